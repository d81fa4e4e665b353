"""SR3 benchmark: x4 super-resolution of held-out photos by genzoo's sr3 (diffusion on the residual over bicubic).

    PYTHONPATH=src python benchmarks/sr3.py             # ~8 min on one CPU thread (5 min training)
    PYTHONPATH=src python benchmarks/sr3.py --smoke     # seconds: does it run? (writes sr3_smoke.json)

Training: 16384 `photos` train patches (32x32 high-res, 8x8 inputs by antialiased bicubic x1/4), drawn and
flipped as `_superres.TrainingPatches` says (3/4 of each batch from the more textured half), the model's own
`loss` (x0-prediction of 2 x (truth - bicubic), the U-Net seeing the bicubic image), Adam at 1e-3 on a cosine
schedule to zero over the wall-clock budget. The U-Net has no attention layer, so it runs on whole photos as
well as on patches. Learning curve: PSNR on the held-out `patches` set with one DDIM step, against training
wall-clock (the clock stops while the curve is measured).

Sampling: deterministic DDIM (eta 0) at 1, 4 and 20 steps. With x0-prediction, one step returns the
network's estimate of the residual's conditional mean (the PSNR-optimal answer, like a regression network);
more steps draw a sample, which may be sharper and is expected to score a lower PSNR. Every step count is a row.

Evaluation: the held-out sets and metrics of `_superres.py` (patches and whole photos of china and flower,
never seen in training). Writes benchmarks/results/sr3.json and sr3.png: one row per textured crop of the
whole held-out photos, columns bicubic | sr3 (each step count) | original.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _superres import (
    SCALE,
    TrainingPatches,
    bicubic,
    evaluate,
    held_out_sets,
    report,
    train_for,
)  # noqa: E402
from common import Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402

NAME = "sr3.png"
BATCH, LR = 16, 1e-3
NET = {"base_channels": 16, "channel_mults": (1, 2, 2), "attn_resolutions": ()}
STEPS = (1, 4, 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="seconds-long budget")
    ap.add_argument("--seconds", type=float, default=300.0, help="training wall-clock")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seconds, every = (3.0, 2.0) if args.smoke else (args.seconds, 45.0)

    train = TrainingPatches(256 if args.smoke else 16384)
    sets = held_out_sets(args.smoke)
    res = Results("sr3", smoke=args.smoke)
    model = gz.create("sr3", data=gz.data.load("photos", patch=32, n=16), scale=SCALE, **NET)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(0)

    def step(i: int, fraction: float) -> None:
        for group in opt.param_groups:
            group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * fraction))
        model.train()
        loss = model.loss(train.batch(BATCH, g))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def upscaler(steps: int):  # noqa: ANN202 - a closure over the step count
        def upscale(low: torch.Tensor) -> torch.Tensor:
            model.eval()
            return model.upscale(low, steps=steps, generator=torch.Generator().manual_seed(0))

        return upscale

    def probe() -> float:
        return evaluate(upscaler(1), {"patches": sets["patches"]})["patches"]["psnr"]

    n, curve = train_for(step, seconds, probe, every)
    trained = (
        f"sr3 U-Net base {NET['base_channels']}, mults {NET['channel_mults']}, no attention; {n} batches of "
        f"{BATCH} 32x32 patches in {curve[-1]['seconds']:.0f}s on {args.threads} CPU thread(s) of {machine()}; "
        f"Adam {LR} cosine"
    )
    extra = {"steps": n, "seconds": curve[-1]["seconds"], "threads": args.threads, "curve": curve,
             "curve_note": "PSNR of the 1-step (DDIM-1) output during training"}
    systems = {"bicubic": (bicubic, "no training", {})}
    for k in STEPS:
        systems[f"genzoo-sr3-ddim{k}"] = (
            upscaler(k),
            f"{trained}; deterministic DDIM, {k} step(s)",
            {**extra, "sample_steps": k},
        )
    report(res, NAME, systems, sets, args.smoke)

if __name__ == "__main__":
    main()
