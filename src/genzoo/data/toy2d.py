"""A 2-D toy for watching GAN mode coverage: a ring of 8 Gaussians (the standard mode-collapse test)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset


class VectorDataset(Dataset):
    """Points (N, D) with labels (the mixture component), items `(x, label)` like the image datasets."""

    def __init__(self, points: Tensor, labels: Tensor, info: DataInfo) -> None:
        self.points, self.labels, self.info = points.float(), labels.long(), info

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.points[i], self.labels[i]

    def take(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """The batch of items `index` in one gather (what collating them one by one would build)."""
        return self.points[index], self.labels[index]


def ring_centres(modes: int = 8, radius: float = 2.0) -> Tensor:
    angles = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], 1)


@register_dataset("ring8", "2-D mixture of 8 Gaussians on a circle (GAN mode-coverage toy)")
def ring8(
    split: str = "train", n: int = 4096, std: float = 0.05, modes: int = 8, seed: int | None = None, **_: Any
) -> VectorDataset:
    """`modes` Gaussians of std `std` evenly spaced on a circle of radius 2; labels name the component."""
    g = torch.Generator().manual_seed(seed if seed is not None else (0 if split == "train" else 1))
    labels = torch.randint(0, modes, (n,), generator=g)
    points = ring_centres(modes)[labels] + std * torch.randn(n, 2, generator=g)
    info = DataInfo("ring8", "vector", (2,), [str(i) for i in range(modes)], None, {"std": std})
    return VectorDataset(points, labels, info)


def modes_covered(samples: Tensor, modes: int = 8, std: float = 0.05, min_share: float = 0.01) -> int:
    """How many ring components hold at least `min_share` of the samples within 4 std of their centre."""
    d = torch.cdist(samples.float(), ring_centres(modes))
    nearest = d.argmin(1)
    close = d.min(1).values < 4 * std
    counts = torch.bincount(nearest[close], minlength=modes)
    return int((counts >= min_share * len(samples)).sum())
