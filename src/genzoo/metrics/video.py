"""Clip metrics: frame-prediction error, digit-trajectory statistics and frame-to-frame identity consistency.

Clips are (N, C, T, H, W) in [0, 1]. The trajectory metrics follow one bright object (a moving digit) by
its intensity-weighted centroid, so they are meant for moving-digits-like data; compare a model's value
with the same metric on real clips, never alone: a frozen clip is perfectly smooth and consistent, which
is why `mean_speed` is reported beside them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def prediction_mse(predicted: Tensor, target: Tensor, given: int) -> float:
    """Mean squared pixel error over the frames after the first `given` (the predicted ones)."""
    return float(((predicted[:, :, given:] - target[:, :, given:]) ** 2).mean())


def sharpness(clips: Tensor) -> float:
    """Mean magnitude of the spatial image gradient (finite differences) over every frame: how crisp the
    edges are. A blurred or faint prediction scores low; compare with the same figure on real clips."""
    x = clips.float()
    dy, dx = x.diff(dim=-2)[..., :, :-1], x.diff(dim=-1)[..., :-1, :]
    return float((dy**2 + dx**2).sqrt().mean())


def centroids(clips: Tensor) -> Tensor:
    """(N, T, 2) intensity-weighted centre (row, column) of every frame, in pixels; a blank frame's is
    the canvas centre."""
    grey = clips.float().mean(1)  # (N, T, H, W)
    h, w = grey.shape[-2:]
    mass = grey.sum((-2, -1))
    rows = (grey.sum(-1) * torch.arange(h, dtype=grey.dtype)).sum(-1)
    cols = (grey.sum(-2) * torch.arange(w, dtype=grey.dtype)).sum(-1)
    centre = torch.tensor([(h - 1) / 2, (w - 1) / 2])
    out = torch.stack([rows, cols], -1) / mass.clamp(min=1e-6).unsqueeze(-1)
    return torch.where(mass.unsqueeze(-1) > 1e-3, out, centre)


def mean_speed(clips: Tensor) -> float:
    """Mean centroid displacement between consecutive frames (pixels per frame)."""
    return float(centroids(clips).diff(dim=1).norm(dim=-1).mean())


def trajectory_jerkiness(clips: Tensor) -> float:
    """Mean norm of the centroid's second difference (pixels per frame^2): 0 for uniform straight motion;
    bounces off the walls make real clips' value positive. Lower is smoother."""
    return float(centroids(clips).diff(n=2, dim=1).norm(dim=-1).mean())


@torch.no_grad()
def identity_consistency(clips: Tensor, classify: torch.nn.Module) -> float:
    """Share of consecutive frame pairs whose classes (argmax of `classify(frames)`) agree."""
    n, c, t, h, w = clips.shape
    frames = clips.transpose(1, 2).reshape(n * t, c, h, w).float()
    labels = torch.cat([classify(frames[i : i + 512]).argmax(1) for i in range(0, len(frames), 512)])
    labels = labels.view(n, t)
    return float((labels[:, 1:] == labels[:, :-1]).float().mean())
