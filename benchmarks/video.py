"""Video benchmark: `video_ddpm` on moving digits — per-frame classifier-FID, temporal metrics, frame prediction.

    PYTHONPATH=src python benchmarks/video.py --threads 1     # ~12 min wall on the shared 2-core CPU (5 CPU
                                                              # min of training, 300 steps; see the JSON)
    PYTHONPATH=src python benchmarks/video.py --smoke         # seconds-long budgets: does it run?

Data: `moving_digits` (one mnist5k digit shrunk to 16 px bouncing on a 32x32 canvas, 8 frames); test clips
use held-out digits and trajectories. The model trains with `genzoo.fit` for a fixed number of steps (the
row budgets give steps, batch, and the wall and CPU seconds they took on this shared machine).

Per-frame classifier-FID: genzoo's FID on a classifier's features (`genzoo.metrics.fid`), with that
classifier trained here on real *canvas* frames (32x32, digit class as label) rather than on 28x28
mnist5k, so frames are scored at their own size; `real_data` rows put held-out real frames through the
same metric (a floor for this sample count). Temporal metrics (`genzoo.metrics.video`): frame-to-frame
consistency of the classifier's digit identity, centroid-trajectory jerkiness and mean speed, each with
the real-data value beside it. Frame prediction: the first 4 test frames given, 4 predicted; pixel MSE of
genzoo against copy_last (repeat the last given frame), mean_frame (their mean) and constant_velocity
(shift the last frame by its centroid's last displacement), the last a strong hand-made baseline that
knows the data's physics. Writes benchmarks/results/video.json and GIFs beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.data.images import ImageDataset  # noqa: E402
from genzoo.data.info import DataInfo  # noqa: E402
from genzoo.data.video import VideoDataset, write_clip  # noqa: E402
from genzoo.metrics.features import feature_net_accuracy, feature_net_for  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.metrics.video import (  # noqa: E402
    centroids,
    identity_consistency,
    mean_speed,
    prediction_mse,
    trajectory_jerkiness,
)

GIVEN = 4  # frames given for prediction; the rest of the 8 are predicted


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps of video_ddpm")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-clips", type=int, default=32)
    ap.add_argument("--sample-steps", type=int, default=20, help="DDIM steps when sampling")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.eval_clips, args.sample_steps = 3, 8, 2
    torch.set_num_threads(args.threads)
    res = Results("video" if not args.smoke else "video_smoke")
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

    # train
    model = gz.create("video_ddpm", data=train)
    params = sum(p.numel() for p in model.parameters())
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        gz.fit(model, train, max_steps=args.steps, batch_size=args.batch, out=tmp, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    budget = (f"{args.steps} steps x batch {args.batch} ({wall:.0f} s wall, {cpu:.0f} s CPU, {args.threads} "
              f"thread(s)); {params / 1e6:.2f}M params; DDIM-{args.sample_steps}; {args.eval_clips} clips")
    print(budget)

    n = args.eval_clips
    g = torch.Generator().manual_seed(0)
    samples = model.sample(n, steps=args.sample_steps, generator=g)
    real = test.videos[:n]
    ref = train.videos[:n]  # real clips other than `real`: the real-data reference for every metric

    def per_frame(clips: torch.Tensor) -> torch.Tensor:
        return clips.transpose(1, 2).reshape(-1, *clips.shape[1:2], *clips.shape[3:])

    task = f"moving_digits_{shape}"
    real_budget = f"{n} held-out real clips vs {n} other real clips"
    for system, clips, b in (("genzoo", samples, budget), ("real_data", ref, real_budget)):
        fid = sample_metrics(per_frame(real), per_frame(clips), "moving_digits_frames", frames_train,
                             frames_test, which=("fid",))["fid_classifier"]
        res.add(f"{task} per-frame", system, "fid_classifier", fid, False, b)
    for system, clips, b in (("genzoo", samples, budget), ("real_data", real, f"{n} held-out real clips")):
        res.add(f"{task} temporal", system, "identity_consistency",
                identity_consistency(clips, classifier.logits), True, b)
        res.add(f"{task} temporal", system, "trajectory_jerkiness", trajectory_jerkiness(clips), False, b)
        res.add(f"{task} temporal", system, "mean_speed_px_per_frame", mean_speed(clips), True, b)

    # frame prediction: GIVEN frames in, the rest predicted
    first = real[:, :, :GIVEN]
    total = real.shape[2]
    preds = {"genzoo": model.predict(first, steps=args.sample_steps, generator=torch.Generator().manual_seed(1))}
    preds["copy_last"] = copy_last(first, total)
    preds["mean_frame"] = mean_frame(first, total)
    preds["constant_velocity"] = constant_velocity(first, total)
    for system, pred in preds.items():
        b = budget if system == "genzoo" else f"no training; {n} held-out clips"
        res.add(f"{task} predict {total - GIVEN} from {GIVEN}", system, "mse", prediction_mse(pred, real, GIVEN),
                False, b)
    res.add(f"{task} per-frame", "frame_classifier", "test_accuracy", acc, True,
            "FeatureNet on 4000 real canvas frames (500 clips), 1600 held-out frames")

    # pictures: samples; and prediction (rows: real, genzoo, copy_last); and an inpainted clip
    stem = "video" if not args.smoke else "video_smoke"
    write_clip(samples[:8], RESULTS / f"{stem}_samples.gif", fps=4, scale=2)
    rows = torch.cat([real[:6], preds["genzoo"][:6], preds["copy_last"][:6]], dim=-2)
    write_clip(rows, RESULTS / f"{stem}_prediction.gif", fps=4, scale=2)
    hole = torch.zeros(32, 32)
    hole[8:24, 8:24] = 1
    filled = model.inpaint(real[:6], hole, steps=args.sample_steps, generator=torch.Generator().manual_seed(2))
    holed = real[:6] * (1 - hole) + 0.5 * hole
    write_clip(torch.cat([holed, filled, real[:6]], dim=-2), RESULTS / f"{stem}_inpaint.gif", fps=4, scale=2)
    print(f"total {time.perf_counter() - t_all:.0f} s wall")


if __name__ == "__main__":
    main()
