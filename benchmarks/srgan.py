"""SRGAN benchmark: x4 super-resolution of held-out photo patches, genzoo's srgan against bicubic.

    PYTHONPATH=src python benchmarks/srgan.py             # ~4 min of training + evaluation on one CPU thread
    PYTHONPATH=src python benchmarks/srgan.py --smoke     # seconds: does it run?

Training: `photos` train patches (32x32 high-res, 8x8 low-res made by the model's own antialiased bicubic
x1/4), for a fixed wall-clock budget, driving the model's `manual_step` directly (pixel-loss pre-training,
then pixel + adversarial). Evaluation: patches of the held-out test photos (china, flower), never seen in
training. Metrics: PSNR and SSIM (genzoo.metrics.restoration), and `sharpness_ratio`, defined as

    mean Sobel gradient magnitude of the output's luminance / the same for the true high-res patches

over all test patches (1.0 = as much edge energy as the truth; bicubic blurs, so it sits below 1; a
value above 1 means invented or exaggerated detail). Writes benchmarks/results/srgan.json and srgan.png
(rows: low-res (nearest-neighbour enlarged) | bicubic | srgan | truth).
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
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics.restoration import psnr, ssim  # noqa: E402
from genzoo.nn.resample import downscale  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def gradient_energy(images: Tensor) -> float:
    """Mean Sobel gradient magnitude of the luminance (valid convolution: no border artefacts)."""
    y = (images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    kernels = torch.stack([SOBEL, SOBEL.T]).unsqueeze(1)
    g = F.conv2d(y, kernels)
    return float(g.pow(2).sum(1).sqrt().mean())


def sharpness_ratio(pred: Tensor, target: Tensor) -> float:
    """gradient_energy(pred) / gradient_energy(target): 1.0 = as sharp as the truth."""
    return gradient_energy(pred) / gradient_energy(target)


def bicubic(lowres: Tensor, scale: int) -> Tensor:
    return F.interpolate(lowres, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def train(model: gz.GenerativeModel, images: Tensor, seconds: float, batch: int, lr: float) -> int:
    """Random batches through model.manual_step until the wall-clock budget is spent; returns batches."""
    opts = model.optimizers_for(lr)
    model.train()
    g = torch.Generator().manual_seed(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        idx = torch.randint(0, len(images), (batch,), generator=g)
        parts = model.manual_step((images[idx], None), opts, lambda loss: loss.backward())
        n += 1
        if n % 100 == 0:
            print(f"batch {n}: pixel {float(parts['pixel']):.4f} {time.perf_counter() - t0:.0f}s", flush=True)
    model.eval()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="seconds-long budget")
    ap.add_argument("--seconds", type=float, default=230.0, help="training wall-clock budget")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seconds = 5.0 if args.smoke else args.seconds
    batch, lr, pretrain = 16, 2e-4, 300

    train_ds = gz.data.load("photos", split="train", patch=32, n=4096)
    test_ds = gz.data.load("photos", split="test", patch=32, n=64 if args.smoke else 256)
    model = gz.create("srgan", data=train_ds, width=32, blocks=4, d_width=32, pretrain_batches=pretrain)
    n = train(model, train_ds.images, seconds, batch, lr)

    hr = test_ds.images
    low = downscale(hr, 4)
    outs = {"genzoo": model.upscale(low), "bicubic": bicubic(low, 4)}
    res = Results("srgan" + ("_smoke" if args.smoke else ""))
    budget = (
        f"8->32 px, {len(hr)} patches of the held-out photos (china, flower); srgan width 32, 4 blocks, "
        f"{seconds:.0f}s wall-clock on {args.threads} CPU thread(s) = {n} batches of {batch} "
        f"({min(n, pretrain)} pixel-only, {max(n - pretrain, 0)} adversarial), lr {lr}"
    )
    for system, out in outs.items():
        res.add("superres-x4-photos", system, "psnr", psnr(out, hr), True, budget)
        res.add("superres-x4-photos", system, "ssim", ssim(out, hr), True, budget)
        res.add("superres-x4-photos", system, "sharpness_ratio", sharpness_ratio(out, hr), True,
                budget + "; Sobel gradient energy of output / of truth, 1.0 = as sharp as the truth")
    nearest = F.interpolate(low, scale_factor=4, mode="nearest")
    if not args.smoke:
        save_grid(torch.cat([nearest[:8], outs["bicubic"][:8], outs["genzoo"][:8], hr[:8]]),
                  RESULTS / "srgan.png", nrow=8, scale=2)


if __name__ == "__main__":
    main()
