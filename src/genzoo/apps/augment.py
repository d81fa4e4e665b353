"""Data augmentation with generative models: does adding generated images help a classifier with few labels?

With only N labelled images per class, the same small CNN is trained on (a) the real images, (b) the real
images with classic augmentation (random shifts, rotations, scaling), and (c) the real images plus samples
of each class-conditional generator given (cgan, cvae, ...). Each is scored by test accuracy over several
seeds. The "classification accuracy score" (Ravuri & Vinyals 2019) trains the classifier on generated
images only and tests on real ones: a measure of how much of each class a generator has really learned.

A generator trained on the few labelled images alone learns too little to help; `--from-unlabelled cvae`
trains one on the unlabelled rest of the training split instead, pseudo-labelled by a classifier of the
labelled images (`genzoo.apps.augment_unlabelled`), and adds real+classic+<gen> rows.

    genzoo augment --generator runs/cgan --generator runs/cvae --data mnist5k --per-class 50
    genzoo augment --from-unlabelled cvae --data mnist5k --per-class 10
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from torch import Tensor

from genzoo.apps.augment_classifier import (
    AugmentSettings,
    accuracy,
    labelled_subset,
    synthetic_set,
    train_classifier,
)
from genzoo.errors import GenzooError
from genzoo.protocols import ClassConditional, can


def check_generator(model: Any, info: Any) -> None:
    """Refuse a generator that cannot make labelled images of this dataset's shape."""
    k = model.num_classes if can(model, ClassConditional) else 0
    if not k:
        raise GenzooError(
            f"generator {getattr(model, 'model_name', '?')!r} is not class-conditional (train e.g. cgan or cvae)"
        )
    if k != info.num_classes or model.data_info is None or tuple(model.data_info.shape) != tuple(info.shape):
        raise GenzooError(
            f"generator {model.model_name!r} was trained for {k} classes of shape "
            f"{model.data_info.shape if model.data_info else '?'}, not {info.name!r} "
            f"({info.num_classes} classes of shape {tuple(info.shape)})"
        )


def run_augment(
    train: Any, test: Any, generators: dict[str, Any], settings: AugmentSettings
) -> dict[str, dict[str, Any]]:
    """Accuracy (mean, std, per seed) of real, real+classic and, for each generator, real+<gen>,
    real+classic+<gen> and cas:<gen> (generated images only).

    `generators` maps a name to a class-conditional model (sampled `settings.synthetic_per_class` times per
    class) or to a ready synthetic set `(images, labels)`, e.g. the filtered samples of
    `augment_unlabelled.generated_samples`.
    """
    info = train.info
    for generator in generators.values():
        if not isinstance(generator, tuple):  # a ready (images, labels) set needs no check
            check_generator(generator, info)
    real_x, real_y = labelled_subset(train.images, train.labels, settings.per_class, seed=0)
    k = info.num_classes
    synthetic = {
        name: m if isinstance(m, tuple) else synthetic_set(m, k, settings.synthetic_per_class)
        for name, m in generators.items()
    }
    empty = [name for name, (x, _) in synthetic.items() if len(x) == 0]
    if empty:
        raise GenzooError(f"the synthetic set {empty[0]!r} is empty: nothing to add to the real images")

    def score(x: Tensor, y: Tensor, seed: int, augment: bool = False, extra: Any = None) -> float:
        net = train_classifier(x, y, k, settings, seed, augment, extra)
        return accuracy(net, test.images, test.labels)

    systems: dict[str, Any] = {
        "real": lambda s: score(real_x, real_y, s),
        "real+classic": lambda s: score(real_x, real_y, s, augment=True),
    }
    for name, syn in synthetic.items():
        systems[f"real+{name}"] = lambda s, syn=syn: score(real_x, real_y, s, extra=syn)
        systems[f"real+classic+{name}"] = lambda s, syn=syn: score(real_x, real_y, s, augment=True, extra=syn)
        systems[f"cas:{name}"] = lambda s, syn=syn: score(real_x[:0], real_y[:0], s, extra=syn)
    out: dict[str, dict[str, Any]] = {}
    for system, fn in systems.items():
        accs = [fn(seed) for seed in range(settings.seeds)]
        out[system] = {
            "mean": statistics.mean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "accuracies": accs,
        }
    return out


# -- CLI ---------------------------------------------------------------------------------------------
def add_commands(sub: Any) -> None:
    p = sub.add_parser("augment", help="few-label classification with and without generated training images")
    p.add_argument(
        "--generator",
        action="append",
        default=[],
        help="run directory of a class-conditional model (cgan, cvae, ...); repeatable",
    )
    p.add_argument(
        "--from-unlabelled",
        default=None,
        metavar="MODEL",
        help="also train this class-conditional model (e.g. cvae) on the unlabelled rest of the training "
        "split, pseudo-labelled by a classifier of the labelled images, and add its samples",
    )
    p.add_argument("--generator-steps", type=int, default=1500, help="training steps of --from-unlabelled")
    p.add_argument("--label-confidence", type=float, default=0.9, help="teacher probability a pseudo-label needs")
    p.add_argument(
        "--sample-confidence",
        type=float,
        default=0.0,
        help="keep only generated samples the teacher gives their class this probability (0: all; "
        "filtering measured to hurt)",
    )
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--per-class", type=int, default=50, help="labelled real images per class (e.g. 10, 50, 100)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300, help="classifier training steps")
    p.add_argument("--synthetic-per-class", type=int, default=200)
    p.add_argument(
        "--synthetic-fraction", type=float, default=0.5, help="share of each classifier batch that is generated"
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.set_defaults(func=cmd_augment)


def cmd_augment(args: argparse.Namespace) -> None:
    import genzoo as gz

    if args.seeds < 1 or args.steps < 1 or args.synthetic_per_class < 1:
        raise GenzooError("--seeds, --steps and --synthetic-per-class must be at least 1")
    if not 0.0 < args.synthetic_fraction < 1.0:
        raise GenzooError(f"--synthetic-fraction must be between 0 and 1, got {args.synthetic_fraction}")
    train = gz.data.load(args.data, split="train")
    test = gz.data.load(args.data, split="test")
    if getattr(train.info, "kind", None) != "image" or not train.info.num_classes:
        raise GenzooError(f"augment needs labelled image data; {args.data!r} is not")
    labelled_subset(train.images, train.labels, args.per_class)  # fail fast, before loading generators
    generators: dict[str, Any] = {}
    for run in args.generator:
        model = gz.load(run)
        generators[model.model_name if model.model_name not in generators else run] = model
    settings = AugmentSettings(
        per_class=args.per_class,
        seeds=args.seeds,
        steps=args.steps,
        synthetic_per_class=args.synthetic_per_class,
        synthetic_fraction=args.synthetic_fraction,
    )
    report = None
    if args.from_unlabelled:
        from genzoo.apps.augment_unlabelled import UnlabelledSettings, generated_samples, generator_from_unlabelled

        unlabelled = UnlabelledSettings(
            model=args.from_unlabelled,
            steps=args.generator_steps,
            label_confidence=args.label_confidence,
            sample_confidence=args.sample_confidence,
        )
        built = generator_from_unlabelled(train, settings, unlabelled)
        generators[f"{args.from_unlabelled}-pseudo"] = generated_samples(
            built.model, built.teacher, train.info.num_classes, args.synthetic_per_class, args.sample_confidence
        )
        report = built.report
    results: dict[str, Any] = run_augment(train, test, generators, settings)
    print(f"{args.data}, {args.per_class} labelled images per class, {args.seeds} seeds:")
    for system, r in results.items():
        print(f"  {system:<28} accuracy {r['mean']:.4f} +- {r['std']:.4f}")
    if report is not None:
        acc = report["pseudo_label_accuracy"]
        print(
            f"  {report['generator']}-pseudo: {report['pseudo_labelled']} of {report['unlabelled']} unlabelled "
            f"images pseudo-labelled"
            + (f" ({100 * acc:.1f}% correct)" if acc is not None else "")
            + f", generator {report['generator_steps']} steps in {report['generator_seconds']:.0f} s"
        )
        results["from_unlabelled"] = report
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(json.dumps(results, indent=2))
