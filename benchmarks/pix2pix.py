"""pix2pix benchmark: paired translation on held-out photos, against a copy, a mean and an L1-only U-Net.

    PYTHONPATH=src python benchmarks/pix2pix.py                  # test: ~12 min on one CPU thread (3 seeds)
    PYTHONPATH=src python benchmarks/pix2pix.py --split val      # the settings sweep, on validation photos
    PYTHONPATH=src python benchmarks/pix2pix.py --smoke          # seconds: does it run?

Tasks (`photo_pairs`, 32x32 patches): grey -> colour and Sobel edges -> photo. Two splits:

* `--split val` (choosing settings): training patches from the training photos except `VAL_PHOTOS`,
  scored on patches of `VAL_PHOTOS`; every candidate of `CANDIDATES` is run. Writes pix2pix_val.json.
* `--split test` (the reported figures, the default): the systems of `FINAL`, picked per task on validation (see
  pix2pix_val.json), trained on patches of all the training photos and scored once on the held-out photos
  (china, flower) that no run ever trains or tunes on. Writes pix2pix.json and the pictures.

Systems, all the same U-Net (width 32, depth 3) and the same batches of 16:

* `copy` (baseline): the source repeated to three channels (the grey image; the edge map).
* `train_mean` (baseline): every pixel the mean colour of the training targets.
* `l1_unet` (baseline): pix2pix with `adv_weight=0`, a per-pixel regression without the adversarial term.
* `genzoo-pix2pix`: the same U-Net trained with the PatchGAN term plus weighted L1 (x100, the paper's
  weight, on grey -> colour; x30 on edges -> photo), sampled from its generator EMA.

grey -> colour predicts chroma only, from a zero-initialised head (at step 0 the output is the grey copy),
and keeps the grey source as luminance, for both trained systems. `colour_only` drops training pairs
whose target has no colour: 8 of the 18 training photos are greyscale (camera, coins, moon, ...), and
their patches teach a colouriser that "grey" is the right answer.

Metrics: L1, PSNR, SSIM; `colourfulness` (Hasler & Suesstrunk 2003, 0-255 scale, mean over patches; the
targets' value is the `target` row) and `sharpness_ratio` (Sobel gradient energy of the output over that
of the targets, 1.0 = as much edge energy as the truth); and the distribution metrics FID and KID between
the outputs and the real held-out photo patches, on the features of genzoo's offline feature network for
`photos` (`genzoo.metrics.fid`; a CNN trained on the training photos, as there are no Inception weights
offline). The `real_patches` row is those metrics for other real patches of the same photos: the floor.
That network predicts rotations (photos have no labels), and its cached accuracy on the held-out photos is
0.25, chance: its features see structure (edges, flat regions) far more than colour, so on grey -> colour
FID/KID barely tell the grey copy from the truth, and on edges -> photo they are a coarse measure.
PSNR rewards the mean of the plausible answers, so on edges -> photo the flat mean image wins it; FID/KID
say whether the outputs look like photos. Trained systems: mean and spread (sample std) over `--seeds`
seeds (model init, batch order, dropout), every seed's value in `per_seed`; seed 0's held-out L1 against
wall-clock is the `curve` of the L1 rows. Pictures pix2pix_<task>.png (seed 0), rows:
input | L1 U-Net | pix2pix | target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.data.images import photo_arrays  # noqa: E402
from genzoo.data.paired import PairedDataset, sobel_edges  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.metrics.restoration import psnr, ssim  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

TASKS = ("grey2colour", "edges2photo")
PATCH, BATCH, WIDTH, DEPTH = 32, 16, 32, 3
N_TRAIN, N_EVAL = 4096, 512
VAL_PHOTOS = ("coffee", "rocket")  # colour photos of everyday scenes, like the held-out china and flower
SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class System:
    """One trained system: the pix2pix loss weights and its training settings."""

    name: str
    adv_weight: float
    l1_weight: float = 100.0
    lr: float = 2e-4
    ema_decay: float = 0.99
    d_width: int = 32
    colour_only: bool = False  # grey -> colour: train only on pairs whose target has colour
    batches: int = 800

    def describe(self) -> str:
        return (
            f"{self.batches} batches of {BATCH}, U-Net width {WIDTH} depth {DEPTH}, lr {self.lr}, "
            f"adv_weight {self.adv_weight}, l1_weight {self.l1_weight}, ema_decay {self.ema_decay}, "
            f"d_width {self.d_width}{', colour-only training pairs' if self.colour_only else ''}"
        )


_L1, _GAN = System("l1_unet", 0.0), System("genzoo-pix2pix", 1.0)
#: the settings sweep (`--split val`): the former defaults, then one change at a time
CANDIDATES = (
    _L1,
    _GAN,
    replace(_GAN, name="gan-ema0", ema_decay=0.0),
    replace(_L1, name="l1-colour", colour_only=True),
    replace(_GAN, name="gan-colour", colour_only=True),
    replace(_L1, name="l1-lr1e-3", lr=1e-3),
    replace(_GAN, name="gan-lr1e-3", lr=1e-3),
    replace(_L1, name="l1-colour-lr1e-3", colour_only=True, lr=1e-3),
    replace(_GAN, name="gan-colour-lr1e-3", colour_only=True, lr=1e-3),
    replace(_GAN, name="gan-l1w30", l1_weight=30.0),
    replace(_GAN, name="gan-d64", d_width=64),
)
#: the reported systems (`--split test`) per task, as chosen on validation (pix2pix_val.json, one seed):
#: each baseline at its better learning rate by validation PSNR; pix2pix by validation PSNR on grey ->
#: colour (the former defaults: colour-only pairs, a higher lr, L1 x30 or a wider D all scored lower) and by
#: validation KID/FID on edges -> photo (L1 x30: KID 0.0046 vs 0.0072 at L1 x100; a 64-wide D tied)
FINAL = {
    "grey2colour": (replace(_L1, lr=1e-3), _GAN),
    "edges2photo": (_L1, replace(_GAN, l1_weight=30.0)),
}


def sharpness_ratio(pred: Tensor, target: Tensor) -> float:
    """Mean Sobel gradient magnitude of the luminance of `pred` over that of `target` (valid convolution)."""

    def energy(images: Tensor) -> float:
        y = (images.float() * LUMA).sum(1, keepdim=True)
        g = F.conv2d(y, torch.stack([SOBEL, SOBEL.T]).unsqueeze(1))
        return float(g.pow(2).sum(1).sqrt().mean())

    return energy(pred) / energy(target)


def colourfulness(images: Tensor) -> float:
    """Hasler & Suesstrunk's M = sigma_rgyb + 0.3 mu_rgyb per image (0-255 scale), mean over images."""
    x = images.float() * 255
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    std = (rg.flatten(1).var(1) + yb.flatten(1).var(1)).sqrt()
    mean = (rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2).sqrt()
    return float((std + 0.3 * mean).mean())


def has_colour(images: Tensor) -> Tensor:
    """Per image: does any pixel differ between its RGB channels by more than 2/255 (a grey photo: never)?"""
    spread = images.amax(1) - images.amin(1)
    return spread.flatten(1).amax(1) > 2 / 255


def patches(names: set[str] | None, exclude: set[str], split: str, n: int, seed: int) -> Tensor:
    """n random PATCH x PATCH crops (N, 3, H, W) of the `split` photos named in `names` (None: all) less `exclude`."""
    arrays = [a for name, a in photo_arrays(split) if (names is None or name in names) and name not in exclude]
    rng = np.random.default_rng(seed)
    out = np.empty((n, PATCH, PATCH, 3), dtype=np.float32)
    for i in range(n):
        a = arrays[rng.integers(len(arrays))]
        r, c = rng.integers(a.shape[0] - PATCH + 1), rng.integers(a.shape[1] - PATCH + 1)
        out[i] = a[r : r + PATCH, c : c + PATCH]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def pairs(task: str, target: Tensor, template: PairedDataset) -> PairedDataset:
    """(source, target) pairs made from photo patches exactly as `photo_pairs` makes them."""
    source = (target * LUMA).sum(1, keepdim=True) if task == "grey2colour" else sobel_edges(target)
    return PairedDataset(source, target, template.info)


def scores(out: Tensor, target: Tensor, photos_train: object, photos_test: object) -> dict[str, float]:
    fid = sample_metrics(target, out, "photos", photos_train, photos_test, which=("fid", "kid"))  # type: ignore[arg-type]
    return {
        "l1": float(F.l1_loss(out, target)),
        "psnr": psnr(out, target),
        "ssim": ssim(out, target),
        "colourfulness": colourfulness(out),
        "sharpness_ratio": sharpness_ratio(out, target),
        "fid": fid["fid_classifier"],
        "kid": fid["kid_classifier"],
    }


def train(
    model: gz.GenerativeModel, data: PairedDataset, system: System, seed: int, test: tuple[Tensor, Tensor]
) -> tuple[float, list[dict[str, float]]]:
    """Random batches through model.manual_step; returns training seconds and a held-out L1 curve."""
    opts = model.optimizers_for(system.lr)
    g = torch.Generator().manual_seed(seed)
    every = max(1, system.batches // 10)
    curve: list[dict[str, float]] = []
    spent = 0.0
    for n in range(1, system.batches + 1):
        model.train()
        t0 = time.perf_counter()
        idx = torch.randint(0, len(data), (BATCH,), generator=g)
        model.manual_step((data.source[idx], data.target[idx]), opts, lambda loss: loss.backward())
        spent += time.perf_counter() - t0
        if n % every == 0 or n == system.batches:
            model.eval()
            l1 = float(F.l1_loss(model.translate(test[0]), test[1]))
            curve.append({"batches": n, "seconds": round(spent, 2), "test_l1": round(l1, 5)})
    model.eval()
    return spent, curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few batches, one seed: does it run?")
    ap.add_argument("--split", choices=("test", "val"), default="test", help="val: the settings sweep")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per trained system (mean and spread)")
    ap.add_argument("--systems", nargs="*", help="only these systems (names from CANDIDATES / FINAL)")
    ap.add_argument("--tasks", nargs="*", choices=TASKS, default=list(TASKS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    torch.set_num_threads(args.threads)
    val = args.split == "val"

    def systems_for(task: str) -> list[System]:
        chosen = [s for s in (CANDIDATES if val else FINAL[task]) if not args.systems or s.name in args.systems]
        return [replace(s, batches=6) for s in chosen[:2]] if args.smoke else chosen

    seeds = 1 if args.smoke else args.seeds
    n_train, n_eval = (256, 64) if args.smoke else (N_TRAIN, N_EVAL)
    res = Results("pix2pix_val" if val else "pix2pix", smoke=args.smoke)
    photos_train = gz.data.load("photos", split="train", patch=PATCH)  # the FID/KID feature network's data
    photos_test = gz.data.load("photos", split="test", patch=PATCH)
    held_out = "validation photos " + "+".join(VAL_PHOTOS) if val else "held-out photos china+flower"
    for task in TASKS if not args.tasks else args.tasks:
        template = gz.data.load("photo_pairs", split="train", task=task, patch=PATCH, n=8)
        exclude = set(VAL_PHOTOS) if val else set()
        # twice the patches, so colour-only training still has n_train pairs once the grey ones are dropped
        pool = pairs(task, patches(None, exclude, "train", 2 * n_train, seed=0), template)
        every_pair = PairedDataset(pool.source[:n_train], pool.target[:n_train], pool.info)
        colour = has_colour(pool.target)
        colour_pairs = PairedDataset(pool.source[colour][:n_train], pool.target[colour][:n_train], pool.info)
        eval_split, eval_names = ("train", set(VAL_PHOTOS)) if val else ("test", None)
        test = pairs(task, patches(eval_names, set(), eval_split, n_eval, seed=1), template)
        floor = patches(eval_names, set(), eval_split, n_eval, seed=2)  # other real patches of the same photos
        src, tgt = test.source, test.target
        data = (
            f"photo_pairs {task}, {PATCH}x{PATCH}, {n_train} train patches, {len(src)} patches of the {held_out}; "
            f"FID/KID on the classifier features of genzoo's photos feature net; threads={args.threads}"
        )
        mean = every_pair.target.mean(dim=(0, 2, 3), keepdim=True)
        fixed = {
            "copy": (src.expand(-1, 3, -1, -1), f"no training; {data}"),
            "train_mean": (mean.expand_as(tgt), f"one mean over the training targets; {data}"),
            "real_patches": (floor, f"other real patches of the same photos (the FID/KID floor); {data}"),
        }
        for system, (out, budget) in fixed.items():
            for metric, value in scores(out, tgt, photos_train, photos_test).items():
                if system == "real_patches" and metric not in ("fid", "kid", "colourfulness"):
                    continue
                res.add(task, system, metric, value, metric not in ("l1", "fid", "kid"), budget)
        res.add(task, "target", "colourfulness", colourfulness(tgt), True, f"the true targets; {data}")
        pictures = {}
        systems = systems_for(task)
        for system in systems:
            if system.colour_only and task != "grey2colour":
                continue  # edges -> photo trains on every pair: a grey photo's edges are as real as any
            train_ds = colour_pairs if system.colour_only else every_pair
            per_seed: dict[str, list[float]] = {}
            seconds, curve = [], []
            for seed in range(seeds):
                print(f"{task} {system.name} seed {seed}", flush=True)
                torch.manual_seed(seed)
                model = gz.create(
                    "pix2pix", data=train_ds, width=WIDTH, depth=DEPTH, d_width=system.d_width,
                    adv_weight=system.adv_weight, l1_weight=system.l1_weight, ema_decay=system.ema_decay,
                )
                spent, c = train(model, train_ds, system, seed, (src, tgt))
                seconds.append(spent)
                curve = curve or c
                out = model.translate(src)
                if seed == 0:
                    pictures[system.name] = out
                for metric, value in scores(out, tgt, photos_train, photos_test).items():
                    per_seed.setdefault(metric, []).append(value)
            budget = (
                f"{system.describe()}; {statistics.mean(seconds):.0f}s training per seed; {seeds} seeds "
                f"(value: mean, spread: sample std); {data}"
            )
            for metric, values in per_seed.items():
                res.add(
                    task, system.name, metric, statistics.mean(values), metric not in ("l1", "fid", "kid"), budget,
                    spread=statistics.stdev(values) if len(values) > 1 else 0.0,
                    per_seed=[round(v, 5) for v in values],
                    **({"curve": curve} if metric == "l1" else {}),
                )
        if not args.smoke and not val:
            k = slice(0, 12)
            grid = torch.cat([src[k].expand(-1, 3, -1, -1), *(pictures[s.name][k] for s in systems), tgt[k]])
            save_grid(grid, res.file(f"pix2pix_{task}.png"), nrow=12, scale=3)


if __name__ == "__main__":
    main()
