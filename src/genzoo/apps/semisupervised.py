"""Semi-supervised classification with few labels: M2 (`ssvae`) vs the same classifier on labels alone.

    genzoo semisup --data mnist5k --labels-per-class 10 --seeds 3

Each seed draws `labels_per_class` labelled training images per class; M2 also sees every other training
image without its label. The baseline is M2's own classifier network trained on the labelled images alone
with the same optimiser and number of steps, so the difference is what the unlabelled images bring.

With `--m1-steps N` the paper's M1+M2 stack runs as well: a convolutional `vae` (M1) is first trained for N
steps on every training image, without labels, and M2 then models M1's latents (`ssvae` with `m1_of`). Its
own labels-only baseline is the same classifier on M1's features of the labelled images, which separates
what M1's features bring from what M2's generative training on the unlabelled ones adds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.errors import GenzooError


class SemiSupervisedData(Dataset):
    """Every unlabelled image once (label -1), interleaved with as many draws from the few labelled ones.

    Shuffled batches are then about half labelled, which M2 needs: with 100 labels among 4000 images a plain
    shuffle would show the classifier a label only every other batch.
    """

    def __init__(self, images: Tensor, labels: Tensor, labelled: np.ndarray, info: Any) -> None:
        mask = np.zeros(len(images), dtype=bool)
        mask[labelled] = True
        if mask.all():
            raise GenzooError("every training image is labelled: none is left for semi-supervised learning")
        self.unlabelled = images[torch.from_numpy(~mask)]
        self.labelled_x, self.labelled_y = (
            images[torch.from_numpy(labelled)],
            labels[torch.from_numpy(labelled)],
        )
        self.info = info

    def __len__(self) -> int:
        return 2 * len(self.unlabelled)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        n = len(self.unlabelled)
        if i < n:
            return self.unlabelled[i], torch.tensor(-1)
        j = (i - n) % len(self.labelled_x)
        return self.labelled_x[j], self.labelled_y[j]


def pick_labelled(labels: Tensor, per_class: int, seed: int) -> np.ndarray:
    """`per_class` random indices of each class (fixed by `seed`)."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise GenzooError(f"class {c} has only {len(idx)} training images, fewer than {per_class} labels")
        out.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(out))


@torch.no_grad()
def test_error(classify: Any, test: Any, batch: int = 500) -> float:
    """Fraction of test images whose arg-max class is wrong."""
    wrong = 0
    for i in range(0, len(test), batch):
        x, y = test.images[i : i + batch], test.labels[i : i + batch]
        wrong += int((classify(x).argmax(1) != y).sum())
    return wrong / len(test)


def train_m2(
    train: Any, labelled: np.ndarray, steps: int, seed: int, batch_size: int = 100, **overrides: Any
) -> Any:
    import genzoo as gz

    torch.manual_seed(seed)
    model = gz.create("ssvae", data=train, **overrides)
    if model.m1 is not None:
        model.features(train.images[:1000])  # M1 feature statistics from many images, not one batch
    data = SemiSupervisedData(train.images, train.labels, labelled, train.info)
    return gz.fit(
        model, data, max_steps=steps, batch_size=batch_size, seed=seed, progress=False, log_every=50
    )


def train_m1(train: Any, steps: int, out: Path, batch_size: int = 100, latent_dim: int = 32) -> str:
    """M1: a convolutional VAE fitted to every training image with no labels, saved at `out`."""
    import genzoo as gz

    torch.manual_seed(0)
    model = gz.create("vae", data=train, latent_dim=latent_dim, hidden=32)
    gz.fit(model, train, max_steps=steps, batch_size=batch_size, seed=0, progress=False, log_every=50)
    gz.save(model, out)
    return str(out)


def train_labels_only(
    train: Any,
    labelled: np.ndarray,
    steps: int,
    seed: int,
    batch_size: int = 100,
    m1_of: str = "",
    **overrides: Any,
) -> torch.nn.Module:
    """M2's classifier network on the labelled images alone, by cross-entropy (same optimiser, steps).

    With `m1_of` it reads M1's standardised features, exactly as M1+M2's classifier does; the returned
    module then takes images.
    """
    import genzoo as gz
    from genzoo.models.latent.ssvae import make_classifier

    torch.manual_seed(seed)
    model = gz.create("ssvae", data=train, m1_of=m1_of, **overrides)
    x, y = train.images[torch.from_numpy(labelled)], train.labels[torch.from_numpy(labelled)]
    if m1_of:
        model.features(train.images[:1000])  # feature statistics from unlabelled images, as M1+M2 uses
    net = make_classifier(model.config, model.feature_dim)
    opt = torch.optim.AdamW(net.parameters(), lr=model.default_lr, weight_decay=0.0)
    x = model.features(x).detach()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        loss = torch.nn.functional.cross_entropy(net(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return torch.nn.Sequential(FeaturesOf(model), net) if m1_of else net


class FeaturesOf(torch.nn.Module):
    """Images -> the features an `ssvae` models (so a features-only classifier accepts images)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.features(x)


def run_semisupervised(
    data: str = "mnist5k",
    labels_per_class: int = 10,
    seeds: int = 3,
    steps: int = 600,
    batch_size: int = 100,
    m1_steps: int = 0,
    **overrides: Any,
) -> dict[str, Any]:
    """Test error of M2 and of labels-only training for each seed, with mean and std over seeds.

    With `m1_steps` > 0, also M1+M2 (`genzoo-m1m2`) and the labels-only classifier on M1 features
    (`m1_labels_only`). M1 uses no labels, so one M1 serves every seed.
    """
    import genzoo as gz

    if labels_per_class < 1 or seeds < 1 or steps < 1 or m1_steps < 0:
        raise GenzooError("labels-per-class, seeds and steps must all be at least 1 (m1-steps at least 0)")
    train, test = gz.data.load(data, split="train"), gz.data.load(data, split="test")
    if not getattr(train.info, "num_classes", 0) or not hasattr(train, "images"):
        raise GenzooError(f"dataset {data!r} is not a labelled image dataset")
    errors: dict[str, list[float]] = {"genzoo": [], "labels_only": []}
    with tempfile.TemporaryDirectory(prefix="genzoo-m1-") as tmp:
        m1_of = train_m1(train, m1_steps, Path(tmp) / "m1", batch_size) if m1_steps else ""
        if m1_of:
            errors.update({"genzoo-m1m2": [], "m1_labels_only": []})
        for seed in range(seeds):
            labelled = pick_labelled(train.labels, labels_per_class, seed)
            m2 = train_m2(train, labelled, steps, seed, batch_size, **overrides)
            errors["genzoo"].append(test_error(m2.classify, test))
            base = train_labels_only(train, labelled, steps, seed, batch_size, **overrides)
            errors["labels_only"].append(test_error(lambda x, net=base: net(x), test))
            if m1_of:
                m12 = train_m2(train, labelled, steps, seed, batch_size, m1_of=m1_of, **overrides)
                errors["genzoo-m1m2"].append(test_error(m12.classify, test))
                base = train_labels_only(train, labelled, steps, seed, batch_size, m1_of, **overrides)
                errors["m1_labels_only"].append(test_error(lambda x, net=base: net(x), test))
    summary = {
        k: {"errors": v, "mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
        for k, v in errors.items()
    }
    return {
        "data": data,
        "labels_per_class": labels_per_class,
        "seeds": seeds,
        "steps": steps,
        "batch_size": batch_size,
        "m1_steps": m1_steps,
        **summary,
    }


def cmd_semisup(args: argparse.Namespace) -> None:
    from genzoo.cli_args import parse_overrides

    res = run_semisupervised(
        args.data,
        args.labels_per_class,
        args.seeds,
        args.steps,
        args.batch_size,
        args.m1_steps,
        **parse_overrides(args.option),
    )
    print(f"{args.data}, {args.labels_per_class} labels per class, {args.seeds} seeds, {args.steps} steps:")
    labels = {
        "genzoo": "M2 (ssvae)",
        "labels_only": "labels only",
        "genzoo-m1m2": "M1+M2",
        "m1_labels_only": "M1 features, labels only",
    }
    for name, label in labels.items():
        if name in res:
            r = res[name]
            print(f"  {label:<25} test error {100 * r['mean']:.2f}% ± {100 * r['std']:.2f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


def add_commands(sub: Any) -> None:
    from genzoo.cli_args import add_model_option_argument

    p = sub.add_parser(
        "semisup", help="semi-supervised classification: M2 vs labels only, mean ± std over seeds"
    )
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--labels-per-class", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--m1-steps", type=int, default=0, help="also run M1+M2, training M1 for this many steps")
    add_model_option_argument(p, "ssvae config key=value")
    p.add_argument("--json", default=None, help="also write the results here")
    p.set_defaults(func=cmd_semisup)
