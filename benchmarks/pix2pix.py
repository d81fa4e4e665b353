"""pix2pix benchmark: paired translation on held-out photos, against a copy baseline and an L1-only U-Net.

    PYTHONPATH=src python benchmarks/pix2pix.py            # ~8 min on one CPU thread (2 tasks x 3 nets)
    PYTHONPATH=src python benchmarks/pix2pix.py --smoke    # seconds: does it run?

Tasks (`photo_pairs`, 32x32 patches): grey -> colour and Sobel edges -> photo. Training patches come from
the training photos; every score is on patches of the held-out photos (china, flower), never seen.
Systems, all with the same U-Net and the same number of batches:

* `copy` (baseline): the source repeated to three channels (the grey image; the edge map).
* `train_mean` (baseline): every pixel the mean colour of the training targets.
* `l1_unet` (baseline): pix2pix with `adv_weight=0`, a per-pixel regression without the adversarial term.
* `genzoo-pix2pix`: the same U-Net trained with the PatchGAN term plus 100 x L1 (the paper's weight);
  `genzoo-pix2pix-l1w10` weights L1 by 10, so the adversarial term counts more.

grey -> colour predicts chroma only and keeps the grey source as luminance (the model's
`luminance_from_source`, set from the task), for the trained systems alike.

Metrics: L1, PSNR, SSIM; `colourfulness` (Hasler & Suesstrunk 2003, on the 0-255 scale, mean over patches;
the target patches' value is its own row) and `sharpness_ratio` (Sobel gradient energy of the output over
that of the targets, 1.0 = as much edge energy as the truth). Regression to the mean makes an L1 net's
colours greyer and its edges softer; those two are where the adversarial term should show. A learning
curve (held-out L1 against wall-clock) is recorded for the trained systems. Writes
benchmarks/results/pix2pix.json and pix2pix_<task>.png (rows: input | L1 U-Net | pix2pix |
pix2pix with L1 weight 10 | target).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics.restoration import psnr, ssim  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

TASKS = ("grey2colour", "edges2photo")
#: (system, adv_weight, l1_weight): the L1-only U-Net, pix2pix at the paper's L1 weight, and at a tenth of it
SYSTEMS = (("l1_unet", 0.0, 100.0), ("genzoo-pix2pix", 1.0, 100.0), ("genzoo-pix2pix-l1w10", 1.0, 10.0))
SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sharpness_ratio(pred: Tensor, target: Tensor) -> float:
    """Mean Sobel gradient magnitude of the luminance of `pred` over that of `target` (valid convolution)."""

    def energy(images: Tensor) -> float:
        y = (images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
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


def scores(out: Tensor, target: Tensor) -> dict[str, float]:
    return {
        "l1": float(F.l1_loss(out, target)),
        "psnr": psnr(out, target),
        "ssim": ssim(out, target),
        "colourfulness": colourfulness(out),
        "sharpness_ratio": sharpness_ratio(out, target),
    }


def train(
    model: gz.GenerativeModel,
    source: Tensor,
    target: Tensor,
    batches: int,
    batch: int,
    lr: float,
    test: tuple[Tensor, Tensor],
    every: int,
) -> tuple[float, list[dict[str, float]]]:
    """Random batches through model.manual_step; returns training seconds and a held-out L1 curve."""
    opts = model.optimizers_for(lr)
    g = torch.Generator().manual_seed(0)
    curve: list[dict[str, float]] = []
    spent = 0.0
    for n in range(1, batches + 1):
        model.train()
        t0 = time.perf_counter()
        idx = torch.randint(0, len(source), (batch,), generator=g)
        model.manual_step((source[idx], target[idx]), opts, lambda loss: loss.backward())
        spent += time.perf_counter() - t0
        if n % every == 0 or n == batches:
            model.eval()
            l1 = float(F.l1_loss(model.translate(test[0]), test[1]))
            curve.append({"batches": n, "seconds": round(spent, 2), "test_l1": round(l1, 5)})
            print(f"  batch {n}: held-out L1 {l1:.4f} ({spent:.0f}s)", flush=True)
    model.eval()
    return spent, curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few batches: does it run?")
    ap.add_argument("--batches", type=int, default=800, help="training batches per trained system")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batches = 6 if args.smoke else args.batches
    batch, lr, width, depth = 16, 2e-4, 32, 3
    res = Results("pix2pix", smoke=args.smoke)
    for task in TASKS:
        torch.manual_seed(0)
        train_ds = gz.data.load("photo_pairs", split="train", task=task, patch=32, n=256 if args.smoke else 4096)
        test_ds = gz.data.load("photo_pairs", split="test", task=task, patch=32, n=32 if args.smoke else 256)
        src, tgt = test_ds.source, test_ds.target
        data = f"photo_pairs {task}, 32x32, {len(train_ds)} train patches, {len(src)} held-out patches"
        mean = train_ds.target.mean(dim=(0, 2, 3), keepdim=True)
        outputs = {"copy": src.expand(-1, 3, -1, -1), "train_mean": mean.expand_as(tgt)}
        budgets = {
            "copy": f"no training; {data}",
            "train_mean": f"one mean over the training targets; {data}",
            "target": f"the true targets; {data}",
        }
        curves: dict[str, list[dict[str, float]]] = {}
        for system, adv, l1w in SYSTEMS:
            print(f"{task} {system}", flush=True)
            torch.manual_seed(0)
            model = gz.create(
                "pix2pix", data=train_ds, width=width, depth=depth, d_width=32, adv_weight=adv, l1_weight=l1w
            )
            seconds, curves[system] = train(
                model, train_ds.source, train_ds.target, batches, batch, lr, (src, tgt), max(1, batches // 10)
            )
            outputs[system] = model.translate(src)
            budgets[system] = (
                f"{batches} batches of {batch}, {seconds:.0f}s training, threads={args.threads}; "
                f"U-Net width {width} depth {depth}, lr {lr}, adv_weight {adv}, "
                f"l1_weight {model.config.l1_weight}; {data}"
            )
        outputs["target"] = tgt
        for system, out in outputs.items():
            for metric, value in scores(out, tgt).items():
                if system == "target" and metric != "colourfulness":
                    continue
                res.add(
                    task,
                    system,
                    metric,
                    value,
                    metric != "l1",
                    budgets[system],
                    **({"curve": curves[system]} if system in curves and metric == "l1" else {}),
                )
        if not args.smoke:
            k = slice(0, 8)
            rows = ("copy", "l1_unet", "genzoo-pix2pix", "genzoo-pix2pix-l1w10")
            grid = torch.cat([*(outputs[r][k] for r in rows), tgt[k]])
            save_grid(grid, res.file(f"pix2pix_{task}.png"), nrow=8, scale=3)


if __name__ == "__main__":
    main()
