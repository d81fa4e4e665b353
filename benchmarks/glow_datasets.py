"""Does Glow's mnist5k recipe hold on data it was not tuned on?

On mnist5k (`benchmarks/pixelcnn.py`) Glow's bounded sigmoid coupling scale and variational dequantisation
gave the best bits/dim. This runs Glow's defaults (tanh scale, uniform noise), that recipe and the two
ablations side by side on two other offline image sets, with the same loop, optimizer, EMA, budget and seed
as pixelcnn.py's rows:

- `photos`: 32x32 RGB crops of ~18 natural photos, test crops only from the held-out china and flower photos
  (256 levels); validation: 512 other crops of the training photos;
- `digits`: scikit-learn's 8x8 digits (17 levels); validation: the last seventh of its training split.

The loaders' `val` split is their test split, so validation never comes from it here: early stopping sees
training data only, and the curve holds the test value at every point.

One results file per dataset (`glow_datasets_photos.json`, `glow_datasets_digits.json`; `--name` for runs in
parallel, which must not share a file). Each row: test
bits/dim of the best-validation EMA weights, and the curve (test, validation, running training loss every
budget/6 s of training), beside the per-position histogram of the training images (independent pixels, the
trivial baseline; `--variants ""` adds only it). Glow's other defaults (12 x 128, two levels, split prior) are kept, so
on 8x8 digits the network is far larger than the data needs; every variant shares that.

    PYTHONPATH=src python benchmarks/glow_datasets.py --data photos --seconds 480 [--variants ...] [--seed 1] [--append]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, machine  # noqa: E402
from pixelcnn import Split, histogram_bits, train_with_curve  # noqa: E402

import genzoo as gz  # noqa: E402

VARIANTS = {
    "tanh-uniform": {"coupling_scale": "tanh", "dequantization": "uniform"},  # Glow's defaults
    "sigmoid-variational": {"coupling_scale": "sigmoid", "dequantization": "variational"},  # the mnist5k recipe
    "sigmoid-uniform": {"coupling_scale": "sigmoid", "dequantization": "uniform"},  # the ablations
    "tanh-variational": {"coupling_scale": "tanh", "dequantization": "variational"},
}
LR, EMA = 1e-3, 0.998  # pixelcnn.py's Glow settings


def as_split(data: Any) -> Split:
    labels = data.labels if getattr(data, "labels", None) is not None else torch.zeros(len(data.images))
    return Split(data.images, torch.as_tensor(labels).long())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="photos", choices=("photos", "digits"))
    ap.add_argument("--seconds", type=float, default=360.0, help="training budget of each variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="tanh-uniform,sigmoid-variational", help=f"comma list of {list(VARIANTS)}")
    ap.add_argument("--name", default="", help="results file (default glow_datasets_DATA)")
    ap.add_argument("--append", action="store_true", help="keep the rows of other seeds and variants")
    ap.add_argument("--smoke", action="store_true", help="tiny Glow, 2 s, 64 test images: that the script runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results(args.name or f"glow_datasets_{args.data}", smoke=args.smoke)
    variants = {v: VARIANTS[v] for v in args.variants.split(",") if v}
    tag = f"{args.data}-seed{args.seed}"
    if args.append and (RESULTS / f"{res.name}.json").is_file():
        redo = {(tag, f"genzoo-glow {v}") for v in variants} | {(tag, "per-pixel-histogram")}
        res.rows = [r for r in json.loads((RESULTS / f"{res.name}.json").read_text())["rows"]
                    if (r["task"], r["system"]) not in redo]
    train_data = gz.data.load(args.data)  # loaded once: its info builds every model
    train, test = as_split(train_data), as_split(gz.data.load(args.data, split="test"))
    # genzoo's image loaders give the test split for "val": validation must come out of the training split
    if args.data == "photos":
        crops = gz.data.load("photos", split="train", n=512, seed=7)
        val = Split(crops.images, torch.zeros(len(crops.images)).long())
    else:
        n_val = len(train.images) // 7
        val = Split(train.images[-n_val:], train.labels[-n_val:])
        train = Split(train.images[:-n_val], train.labels[:-n_val])
    info = train_data.info
    small = {"num_layers": 1, "channels": 8} if args.smoke else {}
    if args.smoke:
        args.seconds = 2.0
        val, test = (Split(s.images[:64], s.labels[:64]) for s in (val, test))
    levels = int(info.extra.get("levels", 256))
    res.add(tag, "per-pixel-histogram", "bits_per_dim", histogram_bits(train.images, test.images, levels), False,
            f"counts of the {len(train.images)} training images at {levels} levels (independent pixels)")
    for system, options in variants.items():
        torch.manual_seed(args.seed)
        model = gz.create("glow", data=train_data, **options, **small)
        _, steps, curve, best = train_with_curve(
            model, train, val.images, test.images, args.seconds, LR, EMA, args.seed
        )
        res.add(
            tag, f"genzoo-glow {system}", "bits_per_dim", best["test"], False,
            {"steps": steps, "seconds": args.seconds, "threads": 1, "precision": "fp32", "machine": machine(),
             "batch": 32, "data": f"{args.data} {tuple(info.shape)}: {len(train.images)} train, "
                                  f"{len(val.images)} validation (early stopping), {len(test.images)} test"},
            params=sum(p.numel() for p in model.parameters()), config=options, best_validation=best["val"],
            curve_columns=["train_seconds", "test", "validation", "running_train_loss"], curve=curve,
        )
    res.write()


if __name__ == "__main__":
    main()
