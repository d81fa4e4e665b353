"""Few-label augmentation with a generator that uses the unlabelled images, on mnist5k.

N labelled images per class (N = 10, 50; the subset `genzoo augment` uses), the other 4000 - 10 N training
images unlabelled, the 1000 test images never touched until scoring. A teacher (the augment classifier on
real + classic augmentation) pseudo-labels the unlabelled images, a `cvae` is trained on labelled + confident
pseudo-labelled images, and its samples are added to real + classic training
(`genzoo augment --from-unlabelled cvae`). Baselines: real, real + classic, and self-training without a
generator (real + classic + the pseudo-labelled images themselves); an ablation filters the samples by
the teacher's confidence. Mean, std, min and max over classifier
seeds; the generator's teacher-agreement curve against wall-clock is in its row.

    PYTHONPATH=src python benchmarks/augment_unlabelled.py [--counts 10 50] [--seeds 3]

Writes benchmarks/results/augment_unlabelled.json (one thread, as on a shared CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.augment import AugmentSettings, run_augment  # noqa: E402
from genzoo.apps.augment_unlabelled import (  # noqa: E402
    UnlabelledSettings,
    generated_samples,
    generator_from_unlabelled,
)

SYSTEMS = {  # run_augment name -> row name (genzoo rows start with "genzoo")
    "real": "real",
    "real+classic": "real+classic",
    "real+classic+pseudo-labelled": "self-training: real+classic+pseudo-labelled images (no generator)",
    "real+cvae-pseudo": "genzoo real+cvae-pseudo",
    "real+classic+cvae-pseudo": "genzoo real+classic+cvae-pseudo",
    "cas:cvae-pseudo": "genzoo cvae-pseudo (CAS: generated images only)",
    "real+classic+cvae-pseudo-filtered": "genzoo real+classic+cvae-pseudo, samples filtered at teacher p>=0.9",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--classifier-steps", type=int, default=200)
    parser.add_argument("--generator-steps", type=int, default=1500)
    parser.add_argument("--synthetic-per-class", type=int, default=400)
    parser.add_argument("--synthetic-fraction", type=float, default=0.5)
    parser.add_argument("--name", default="augment_unlabelled", help="results file name (to run counts apart)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    res = Results(args.name)
    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    for n in args.counts:
        t0 = time.perf_counter()
        settings = AugmentSettings(
            per_class=n, seeds=args.seeds, steps=args.classifier_steps, synthetic_fraction=args.synthetic_fraction
        )
        unlabelled = UnlabelledSettings(steps=args.generator_steps, curve_every=max(1, args.generator_steps // 6))
        built = generator_from_unlabelled(train, settings, unlabelled)
        k = train.info.num_classes
        generated = generated_samples(built.model, built.teacher, k, args.synthetic_per_class, 0.0)
        filtered = generated_samples(built.model, built.teacher, k, args.synthetic_per_class, 0.9)
        results = run_augment(
            train,
            test,
            {"pseudo-labelled": built.pseudo, "cvae-pseudo": generated, "cvae-pseudo-filtered": filtered},
            settings,
        )
        seconds = time.perf_counter() - t0
        r = built.report
        budget = (
            f"{n} labelled/class + {r['unlabelled']} unlabelled training images; classifier "
            f"{args.classifier_steps} steps x 64 per seed, {args.synthetic_fraction:.0%} of each batch "
            f"generated; cvae {args.generator_steps} steps x {r['generator_batch_size']} "
            f"({r['generator_seconds']:.0f} s) on {r['pseudo_labelled']} pseudo-labelled + {10 * n} "
            f"labelled images; {len(generated[1])} samples (unfiltered); {args.seeds} seeds; "
            f"{seconds:.0f} s in all; 1 thread, {machine()}"
        )
        common = {
            "steps": {"classifier": args.classifier_steps, "generator": args.generator_steps},
            "seconds": round(seconds, 1),
            "threads": 1,
            "machine": machine(),
        }
        task = f"mnist5k-{n}-per-class"
        for name, row in SYSTEMS.items():
            if name not in results:
                continue
            s = results[name]
            metric = "classification_accuracy_score" if name.startswith("cas:") else "accuracy"
            res.add(
                task,
                row,
                metric,
                s["mean"],
                True,
                budget,
                std=s["std"],
                min=min(s["accuracies"]),
                max=max(s["accuracies"]),
                per_seed=s["accuracies"],
                **common,
            )
        gain = results["real+classic+cvae-pseudo"]["mean"] - results["real+classic"]["mean"]
        res.add(
            task, "genzoo real+classic+cvae-pseudo minus real+classic", "accuracy_gain", gain, True, budget, **common
        )
        res.add(
            task,
            "genzoo cvae-pseudo generator",
            "pseudo_label_accuracy",
            r["pseudo_label_accuracy"],
            True,
            budget,
            pseudo_labelled=r["pseudo_labelled"],
            unlabelled=r["unlabelled"],
            samples_kept_by_filter=len(filtered[1]),
            teacher_agreement_curve=r["curve"],
            **common,
        )


if __name__ == "__main__":
    main()
