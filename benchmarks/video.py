"""Video benchmark: `video_ddpm` on moving digits against the `simvp` predictor and three heuristics.

    PYTHONPATH=src python benchmarks/video.py --threads 1     # ~10 min wall on one core of the shared 2-core CPU
    PYTHONPATH=src python benchmarks/video.py --smoke         # seconds-long budgets: does it run?

Data: `moving_digits` (one mnist5k digit shrunk to 16 px bouncing on a 32x32 canvas, 8 frames); test clips
use held-out digits and trajectories. Both trained models train with `genzoo.fit` for a fixed number of
steps, in chunks (fit resumes exactly), so each row carries a learning curve: prediction MSE against
training wall-clock.

Frame prediction: the first 4 test frames given, 4 predicted, by video_ddpm (one DDIM sampling pass
conditioned on the given frames), simvp (a deterministic SimVP conv encoder-translator-decoder trained with
MSE), copy_last (repeat the last given frame), mean_frame (their mean) and constant_velocity (shift the last
frame by its centroid's last displacement, a strong hand-made baseline that knows the data's physics),
and video_ddpm refining simvp's frames (SDEdit: simvp's prediction noised part-way, then denoised by the
same video_ddpm under the same conditioning, at two strengths). Point forecasts from the generative model:
the mean of 8 conditional samples (`predict(..., samples=8)`, the MSE-optimal use of a sampler), and the
mean of 8 SDEdit refinements of constant_velocity's frames, at the strength (of 0.3/0.5/0.7) with the
lowest mean-of-8 MSE on validation clips: 32 clips of the train split drawn with another generator seed
(train digits, new trajectories), none of them test clips; the test figure is then computed once.
Each is scored by pixel MSE and SSIM against the true frames, by per-frame classifier-FID of the predicted
frames against the true ones (does each frame look like a digit on a canvas?) and by sharpness (mean
spatial gradient; the real frames' value is beside it): MSE rewards the conditional mean, a blur, while
FID and sharpness reward a crisp digit, so the two families are meant to be read together.

Per-frame classifier-FID: genzoo's FID on a classifier's features (`genzoo.metrics.fid`), with that
classifier trained here on real *canvas* frames (32x32, digit class as label) rather than on 28x28
mnist5k, so frames are scored at their own size; `real_data` rows put other real frames through the same
metric (the floor for this sample count). Unconditional clips of video_ddpm get the per-frame FID and the
temporal metrics (`genzoo.metrics.video`): frame-to-frame consistency of the classifier's digit identity,
centroid-trajectory jerkiness and mean speed, each with the real-data value beside it.
Writes benchmarks/results/video.json and GIFs/PNGs beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.data.images import ImageDataset  # noqa: E402
from genzoo.data.info import DataInfo  # noqa: E402
from genzoo.data.video import VideoDataset, write_clip  # noqa: E402
from genzoo.metrics.features import feature_net_accuracy, feature_net_for  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.metrics.restoration import ssim  # noqa: E402
from genzoo.metrics.video import (  # noqa: E402
    centroids,
    identity_consistency,
    mean_speed,
    prediction_mse,
    sharpness,
    trajectory_jerkiness,
)
from genzoo.viz import save_grid  # noqa: E402

GIVEN = 4  # frames given for prediction; the rest of the 8 are predicted
SDEDIT_STRENGTHS = (0.3, 0.5)  # share of the noise schedule simvp's prediction is pushed back before redrawing
MEAN_OF = 8  # conditional samples averaged into one point forecast
CV_STRENGTHS = (0.3, 0.5, 0.7)  # SDEdit strengths for refining constant_velocity, chosen among on validation clips
VAL_SEED = 2  # moving_digits train split under this trajectory seed (training uses 0, test 1): the validation clips


def frame_set(videos: VideoDataset, clips: int, name: str) -> ImageDataset:
    """The frames of the first `clips` clips as a labelled image dataset (what the frame classifier reads)."""
    sub = VideoDataset(videos.videos[:clips], videos.labels[:clips], videos.info)
    frames, labels = sub.frames()
    info = DataInfo(name, "image", tuple(frames.shape[1:]), [str(i) for i in range(10)], (0.0, 1.0))
    return ImageDataset(frames, labels, info)


def copy_last(first: torch.Tensor, total: int) -> torch.Tensor:
    return torch.cat([first, first[:, :, -1:].expand(-1, -1, total - first.shape[2], -1, -1)], dim=2)


def mean_frame(first: torch.Tensor, total: int) -> torch.Tensor:
    rest = first.mean(2, keepdim=True).expand(-1, -1, total - first.shape[2], -1, -1)
    return torch.cat([first, rest], dim=2)


def constant_velocity(first: torch.Tensor, total: int) -> torch.Tensor:
    """Move the last frame on by the centroid's last displacement per frame (whole pixels, zero fill)."""
    c = centroids(first)
    step = c[:, -1] - c[:, -2]
    out = [first]
    last = first[:, :, -1]
    for j in range(1, total - first.shape[2] + 1):
        moved = []
        for clip, (dr, dc) in zip(last, (step * j).round().long().tolist(), strict=True):
            shifted = torch.roll(clip, (dr, dc), dims=(-2, -1))
            h, w = clip.shape[-2:]
            if dr > 0:
                shifted[:, :dr] = 0
            elif dr < 0:
                shifted[:, h + dr :] = 0
            if dc > 0:
                shifted[:, :, :dc] = 0
            elif dc < 0:
                shifted[:, :, w + dc :] = 0
            moved.append(shifted)
        out.append(torch.stack(moved).unsqueeze(2))
    return torch.cat(out, dim=2)


def per_frame(clips: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) clips as (N*T, C, H, W) frames."""
    return clips.transpose(1, 2).reshape(-1, *clips.shape[1:2], *clips.shape[3:])


def train_in_chunks(
    model: Any, data: VideoDataset, steps: int, batch: int, points: int, score: Callable[[Any], float]
) -> tuple[list[dict[str, float]], float, float]:
    """Train `model` by `genzoo.fit` to `steps` in `points` chunks, scoring it after each: the learning curve,
    the training wall seconds and CPU seconds (evaluation excluded)."""
    curve, wall, cpu = [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, points + 1):
            w, c = time.perf_counter(), time.process_time()
            gz.fit(model, data, max_steps=max(1, steps * i // points), batch_size=batch, out=tmp, progress=False)
            wall, cpu = wall + time.perf_counter() - w, cpu + time.process_time() - c
            curve.append({"steps": max(1, steps * i // points), "train_seconds": round(wall, 1), "mse": score(model)})
    return curve, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=420, help="training steps of video_ddpm")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--simvp-steps", type=int, default=300, help="training steps of simvp")
    ap.add_argument("--simvp-batch", type=int, default=16)
    ap.add_argument("--curve-points", type=int, default=3)
    ap.add_argument("--eval-clips", type=int, default=32)
    ap.add_argument("--sample-steps", type=int, default=20, help="DDIM steps when sampling")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.simvp_steps, args.eval_clips, args.sample_steps, args.curve_points = 3, 3, 8, 2, 2
    torch.set_num_threads(args.threads)
    res = Results("video", smoke=args.smoke)
    t_all = time.perf_counter()

    train = gz.data.load("moving_digits", split="train")
    test = gz.data.load("moving_digits", split="test")
    shape = "x".join(map(str, train.info.shape))

    # frame classifier on real canvas frames (cached in GENZOO_CACHE after the first run)
    frames_train = frame_set(train, 500, "moving_digits_frames")
    frames_test = frame_set(test, 200, "moving_digits_frames")
    classifier = feature_net_for("moving_digits_frames", frames_train, frames_test)
    acc = feature_net_accuracy("moving_digits_frames", tuple(frames_train.info.shape))
    print(f"frame classifier test accuracy {acc:.3f}")

    n = args.eval_clips
    real = test.videos[:n]
    ref = train.videos[:n]  # real clips other than `real`: the real-data reference for every metric
    first, total = real[:, :, :GIVEN], real.shape[2]
    machine_note = f"{args.threads} thread(s), {machine()}"

    def fid(a: torch.Tensor, b: torch.Tensor) -> float:
        return sample_metrics(
            per_frame(a), per_frame(b), "moving_digits_frames", frames_train, frames_test, which=("fid",)
        )["fid_classifier"]

    # train: simvp, then video_ddpm, each with its learning curve on the held-out prediction task
    def ddpm_mse(model: Any) -> float:
        pred = model.predict(first, steps=args.sample_steps, generator=torch.Generator().manual_seed(1))
        return prediction_mse(pred, real, GIVEN)

    simvp = gz.create("simvp", data=train)
    simvp_curve, wall, cpu = train_in_chunks(
        simvp,
        train,
        args.simvp_steps,
        args.simvp_batch,
        args.curve_points,
        lambda m: prediction_mse(m.predict(first), real, GIVEN),
    )
    simvp_budget = (
        f"{args.simvp_steps} steps x batch {args.simvp_batch} ({wall:.0f} s wall, {cpu:.0f} s CPU, "
        f"{machine_note}); {sum(p.numel() for p in simvp.parameters()) / 1e6:.2f}M params"
    )
    model = gz.create("video_ddpm", data=train)
    ddpm_curve, wall, cpu = train_in_chunks(model, train, args.steps, args.batch, args.curve_points, ddpm_mse)
    budget = (
        f"{args.steps} steps x batch {args.batch} ({wall:.0f} s wall, {cpu:.0f} s CPU, {machine_note}); "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params; DDIM-{args.sample_steps}; {n} clips"
    )
    print(budget)

    # frame prediction: GIVEN frames in, the rest predicted
    task = f"moving_digits_{shape} predict {total - GIVEN} from {GIVEN}"
    preds = {
        "genzoo video_ddpm": model.predict(first, steps=args.sample_steps, generator=torch.Generator().manual_seed(1)),
        "simvp": simvp.predict(first),
        "copy_last": copy_last(first, total),
        "mean_frame": mean_frame(first, total),
        "constant_velocity": constant_velocity(first, total),
    }
    for strength in SDEDIT_STRENGTHS:  # the diffusion model redraws simvp's frames from part-way noise
        g = torch.Generator().manual_seed(1)
        preds[f"genzoo video_ddpm refining simvp (SDEdit {strength})"] = model.predict(
            first, steps=args.sample_steps, generator=g, init=preds["simvp"], strength=strength
        )
    sampled = dict(steps=args.sample_steps, samples=MEAN_OF)
    preds[f"genzoo video_ddpm mean of {MEAN_OF}"] = model.predict(
        first, generator=torch.Generator().manual_seed(1), **sampled
    )

    # refine constant_velocity by SDEdit, mean of MEAN_OF; the strength is chosen on validation clips only
    val = gz.data.load("moving_digits", split="train", n=n, seed=VAL_SEED).videos
    val_first = val[:, :, :GIVEN]
    val_cv = constant_velocity(val_first, total)
    val_mse = {}
    for strength in CV_STRENGTHS:
        g = torch.Generator().manual_seed(1)
        refined = model.predict(val_first, generator=g, init=val_cv, strength=strength, **sampled)
        val_mse[str(strength)] = prediction_mse(refined, val, GIVEN)
    best = min(CV_STRENGTHS, key=lambda s: val_mse[str(s)])
    print(f"constant_velocity refinement, validation mse by strength {val_mse}: chose {best}")
    cv_system = f"genzoo video_ddpm refining constant_velocity (SDEdit {best}, chosen on validation) mean of {MEAN_OF}"
    preds[cv_system] = model.predict(
        first, generator=torch.Generator().manual_seed(1), init=preds["constant_velocity"], strength=best, **sampled
    )
    heuristic = f"no training; {n} held-out clips"
    budgets = {"genzoo video_ddpm": budget, "simvp": simvp_budget}
    budgets.update({s: f"{budget}; from the simvp row's prediction" for s in preds if "refining simvp" in s})
    budgets[f"genzoo video_ddpm mean of {MEAN_OF}"] = f"{budget}; mean of {MEAN_OF} samples"
    budgets[cv_system] = (
        f"{budget}; mean of {MEAN_OF} samples from the constant_velocity row's prediction; strength chosen "
        f"among {', '.join(map(str, CV_STRENGTHS))} on {n} validation clips (train split, seed {VAL_SEED})"
    )
    curves = {"genzoo video_ddpm": ddpm_curve, "simvp": simvp_curve}
    future = real[:, :, GIVEN:]
    for system, pred in preds.items():
        b, extra = budgets.get(system, heuristic), {"curve": curves[system]} if system in curves else {}
        if system == cv_system:
            extra = {"validation_mse_by_strength": val_mse}
        res.add(task, system, "mse", prediction_mse(pred, real, GIVEN), False, b, **extra)
        res.add(task, system, "ssim", ssim(per_frame(pred[:, :, GIVEN:]), per_frame(future)), True, b)
        res.add(task, system, "fid_classifier_per_frame", fid(future, pred[:, :, GIVEN:]), False, b)
        res.add(task, system, "sharpness", sharpness(pred[:, :, GIVEN:]), True, b)
    real_budget = f"{n} other real clips (train split) against the {n} held-out ones"
    res.add(task, "real_data", "fid_classifier_per_frame", fid(future, ref[:, :, GIVEN:]), False, real_budget)
    res.add(task, "real_data", "sharpness", sharpness(future), True, f"the {n} held-out clips' true frames")

    # unconditional clips of video_ddpm
    samples = model.sample(n, steps=args.sample_steps, generator=torch.Generator().manual_seed(0))
    clip_task = f"moving_digits_{shape} unconditional clips"
    res.add(clip_task, "genzoo video_ddpm", "fid_classifier_per_frame", fid(real, samples), False, budget)
    res.add(clip_task, "real_data", "fid_classifier_per_frame", fid(real, ref), False, real_budget)
    for system, clips, b in (("genzoo video_ddpm", samples, budget), ("real_data", real, f"{n} held-out real clips")):
        res.add(clip_task, system, "identity_consistency", identity_consistency(clips, classifier.logits), True, b)
        res.add(clip_task, system, "trajectory_jerkiness", trajectory_jerkiness(clips), False, b)
        res.add(clip_task, system, "mean_speed_px_per_frame", mean_speed(clips), True, b)
    res.add(
        clip_task,
        "frame_classifier",
        "test_accuracy",
        acc,
        True,
        "FeatureNet on 4000 real canvas frames (500 clips), 1600 held-out frames",
    )

    # pictures: samples; prediction (rows: real, video_ddpm, video_ddpm from simvp, simvp, constant_velocity);
    # an inpainted clip
    order = ("genzoo video_ddpm", next(s for s in preds if "SDEdit" in s), "simvp", "constant_velocity")
    write_clip(samples[:8], res.file("video_samples.gif"), fps=4, scale=2)
    rows = torch.cat([real[:6], *(preds[s][:6] for s in order)], dim=-2)
    write_clip(rows, res.file("video_prediction.gif"), fps=4, scale=2)
    strip = torch.stack([future[:4], *(preds[s][:4, :, GIVEN:] for s in order)])  # (rows, clips, C, T, H, W)
    strip = strip.permute(0, 1, 3, 2, 4, 5).reshape(-1, 1, *real.shape[-2:])  # predicted frames, row by row
    save_grid(strip, res.file("video_prediction_frames.png"), nrow=4 * (total - GIVEN), scale=2)
    hole = torch.zeros(32, 32)
    hole[8:24, 8:24] = 1
    filled = model.inpaint(real[:6], hole, steps=args.sample_steps, generator=torch.Generator().manual_seed(2))
    holed = real[:6] * (1 - hole) + 0.5 * hole
    write_clip(torch.cat([holed, filled, real[:6]], dim=-2), res.file("video_inpaint.gif"), fps=4, scale=2)
    print(f"total {time.perf_counter() - t_all:.0f} s wall")


if __name__ == "__main__":
    main()
