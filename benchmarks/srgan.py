"""SRGAN benchmark: x4 super-resolution of held-out photos, genzoo's srgan (L1 stage, then GAN stage) vs bicubic.

    PYTHONPATH=src python benchmarks/srgan.py             # ~13 min on one CPU thread (10 min L1, 1.5 min GAN)
    PYTHONPATH=src python benchmarks/srgan.py --smoke     # seconds: does it run? (writes srgan_smoke.json)

Training: 16384 `photos` train patches (32x32 high-res; the model makes the 8x8 inputs with its own
antialiased bicubic x1/4), drawn and flipped as `_superres.TrainingPatches` says (3/4 of each batch from the
more textured half), driving the model's `manual_step` directly. Stage 1 is the SRResNet phase: L1 pixel loss
only, Adam at 1e-3 on a cosine schedule to zero over the stage's wall-clock. Stage 2 continues a copy of
that generator with the adversarial loss switched on (pixel L1 + 1e-3 x BCE from a spectral-norm
discriminator), Adam at 1e-4. Each stage is its own row, with a learning curve: PSNR on the held-out
`patches` set against training wall-clock (the clock stops while the curve is measured).

Evaluation: the held-out sets and metrics of `_superres.py` (patches and whole photos of china and flower,
never seen in training): PSNR, SSIM, sharpness ratio. Writes benchmarks/results/srgan.json and srgan.png:
one row per textured crop of the whole held-out photos, columns bicubic | srgan L1 | L1 x8 | GAN | original.
The `genzoo-srgan-l1-x8` row is the L1 model with `upscale(self_ensemble=True)` (8 flips/transposes averaged).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _superres import (  # noqa: E402
    Clock,
    TrainingPatches,
    bicubic,
    evaluate,
    held_out_sets,
    report,
    train_for,
)
from common import Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402

NAME = "srgan.png"
BATCH, L1_LR, GAN_LR = 16, 1e-3, 1e-4
NET = {"width": 48, "blocks": 6, "d_width": 32}


def stage(
    model: gz.GenerativeModel,
    patches: TrainingPatches,
    seconds: float,
    lr: float,
    cosine: bool,
    probe_set: torch.Tensor,
    every: float,
    clock: Clock | None = None,
) -> tuple[int, list[dict[str, float]]]:
    """Train `model` by manual_step on batches of `patches` for `seconds`; returns (batches, curve)."""
    opts = model.optimizers_for(lr)
    g = torch.Generator().manual_seed(0)

    def step(i: int, fraction: float) -> None:
        if cosine:
            for group in opts[0].param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * fraction))
        model.train()
        model.manual_step((patches.batch(BATCH, g), None), opts, lambda loss: loss.backward())

    def probe() -> float:
        model.eval()
        return evaluate(model.upscale, {"patches": [probe_set]})["patches"]["psnr"]

    return train_for(step, seconds, probe, every, clock)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="seconds-long budget")
    ap.add_argument("--seconds", type=float, default=600.0, help="L1-stage training wall-clock")
    ap.add_argument("--gan-seconds", type=float, default=90.0, help="adversarial-stage wall-clock (0 = skip)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    l1_s, gan_s, every = (3.0, 2.0, 2.0) if args.smoke else (args.seconds, args.gan_seconds, 30.0)

    train = TrainingPatches(256 if args.smoke else 16384)
    sets = held_out_sets(args.smoke)
    res = Results("srgan", smoke=args.smoke)
    where = f"{args.threads} CPU thread(s) of {machine()}"
    net = f"srgan width {NET['width']}, {NET['blocks']} residual blocks"

    model = gz.create("srgan", data=gz.data.load("photos", patch=32, n=16), pretrain_batches=10**9, **NET)
    n1, curve1 = stage(model, train, l1_s, L1_LR, True, sets["patches"][0], every)
    systems: dict[str, tuple[Any, str, dict[str, Any]]] = {
        "bicubic": (bicubic, "no training", {}),
        "genzoo-srgan-l1": (
            model.upscale,
            f"{net}; L1 stage: {n1} batches of {BATCH} 32x32 patches in {curve1[-1]['seconds']:.0f}s on "
            f"{where}; Adam {L1_LR} cosine",
            {"steps": n1, "seconds": curve1[-1]["seconds"], "threads": args.threads, "curve": curve1},
        ),
    }
    systems["genzoo-srgan-l1-x8"] = (
        lambda low: model.upscale(low, self_ensemble=True),
        systems["genzoo-srgan-l1"][1] + "; upscale(self_ensemble=True): mean over the 8 flips/transposes",
        {"steps": n1, "seconds": curve1[-1]["seconds"], "threads": args.threads},
    )
    if gan_s > 0:
        gan = copy.deepcopy(model)
        gan.config.pretrain_batches = int(gan.batches)  # the adversarial phase starts now
        clock = Clock()
        clock.spent = curve1[-1]["seconds"]  # the curve's seconds continue from the L1 stage's
        n2, curve2 = stage(gan, train, gan_s, GAN_LR, False, sets["patches"][0], every, clock)
        systems["genzoo-srgan-gan"] = (
            gan.upscale,
            f"{net}; the L1 stage above, then {n2} batches of L1 + {gan.config.adv_weight} x adversarial "
            f"(spectral-norm D width {NET['d_width']}) in {curve2[-1]['seconds'] - curve1[-1]['seconds']:.0f}s;"
            f" Adam {GAN_LR}; {where}",
            {"steps": n1 + n2, "seconds": curve2[-1]["seconds"], "threads": args.threads, "curve": curve1 + curve2[1:]},
        )

    report(res, NAME, systems, sets, args.smoke)

if __name__ == "__main__":
    main()
