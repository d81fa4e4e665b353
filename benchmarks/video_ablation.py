"""Video ablations: what `video_ddpm` frame prediction lacks, one factor at a time, on a cheap proxy task.

    PYTHONPATH=src python benchmarks/video_ablation.py --threads 1    # ~8 min wall on one shared core
    PYTHONPATH=src python benchmarks/video_ablation.py --smoke        # seconds: does it run?

Proxy: `moving_digits` at 16x16 (a digit of 8 px), 8 frames, 4 predicted from 4 — the benchmark's task at a
quarter of the pixels, so each variant trains for the same steps at about a quarter of the cost. Every
variant changes one thing from the defaults (the masks' share of frame prediction, a fixed number of given
frames, the prediction target, the noise schedule, temporal attention) and is trained by `genzoo.fit`
for the same steps and batch; the defaults also get a learning curve (the budget axis) and a second sampler
(stochastic DDIM, eta = 1). The SimVP deterministic predictor and the heuristics of `video.py` are scored
on the same clips. Metrics: pixel MSE of the predicted frames and sharpness (mean spatial gradient; the
real frames' value is beside it). Writes benchmarks/results/video_ablation.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402
from video import GIVEN, constant_velocity, copy_last, mean_frame  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics.video import prediction_mse, sharpness  # noqa: E402

PROXY = {"size": 16, "digit": 8, "frames": 8}
FOCUSED = {"p_uncond": 0.1, "p_predict": 0.8}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "predict-heavy masks (p_predict 0.8)": FOCUSED,
    "predict-heavy masks, 4 given frames": {**FOCUSED, "predict_context": GIVEN},
    "v-prediction": {"prediction": "v"},
    "cosine schedule": {"schedule": "cosine"},
    "no temporal attention": {"temporal_attn_resolutions": ()},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-clips", type=int, default=64)
    ap.add_argument("--sample-steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.eval_clips, args.sample_steps = 4, 4, 2
    torch.set_num_threads(args.threads)
    res = Results("video_ablation", smoke=args.smoke)
    train = gz.data.load("moving_digits", split="train", **PROXY)
    test = gz.data.load("moving_digits", split="test", **PROXY)
    real = test.videos[: args.eval_clips]
    first = real[:, :, :GIVEN]
    task = f"moving_digits_1x8x16x16 predict {real.shape[2] - GIVEN} from {GIVEN}"

    def score(system: str, pred: torch.Tensor, budget: str, **extra: Any) -> None:
        res.add(task, system, "mse", prediction_mse(pred, real, GIVEN), False, budget, **extra)
        res.add(task, system, "sharpness", sharpness(pred[:, :, GIVEN:]), True, budget, **extra)

    heuristic = f"no training; {len(real)} held-out clips"
    score("real_data", real, f"{len(real)} held-out clips (the target itself)")
    for name, fn in (("copy_last", copy_last), ("mean_frame", mean_frame), ("constant_velocity", constant_velocity)):
        score(name, fn(first, real.shape[2]), heuristic)

    def train_for(name: str, options: dict[str, Any], batch: int, checkpoints: list[int]) -> Any:
        """Train in chunks (fit resumes from its checkpoint); yields (model, steps, training seconds)."""
        model = gz.create(name, data=train, **options)
        seconds = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for steps in checkpoints:
                t = time.perf_counter()
                gz.fit(model, train, max_steps=steps, batch_size=batch, out=tmp, progress=False)
                seconds += time.perf_counter() - t
                yield model, steps, seconds

    threads = f"{args.threads} thread(s), shared 2-core CPU"
    for model, steps, secs in train_for("simvp", {}, 16, [args.steps]):
        score("simvp", model.predict(first), f"{steps} steps x batch 16 ({secs:.0f} s wall, {threads})")

    quarters = [max(1, args.steps * q // 3) for q in (1, 2, 3)]
    for variant, options in VARIANTS.items():
        curve = variant in ("defaults", "predict-heavy masks, 4 given frames")
        points = []
        for model, steps, secs in train_for("video_ddpm", options, args.batch, quarters if curve else [args.steps]):
            g = torch.Generator().manual_seed(1)
            pred = model.predict(first, steps=args.sample_steps, generator=g)
            points.append({"steps": steps, "train_seconds": round(secs, 1), "mse": prediction_mse(pred, real, GIVEN)})
        budget = (
            f"{steps} steps x batch {args.batch} ({secs:.0f} s wall, {threads}); DDIM-{args.sample_steps}; "
            f"options {options or 'none'}"
        )
        score(f"genzoo video_ddpm: {variant}", pred, budget, **({"curve": points} if curve else {}))
        if variant == "defaults":
            g = torch.Generator().manual_seed(1)
            stochastic = model.predict(first, steps=args.sample_steps, eta=1.0, generator=g)
            score(f"genzoo video_ddpm: {variant}, DDIM eta=1", stochastic, budget)


if __name__ == "__main__":
    main()
