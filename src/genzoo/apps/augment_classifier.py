"""The classifier side of augmentation: a small CNN, the labelled subset, classic transforms and training
with a fixed share of generated images per batch. Both `augment` (which generators help?) and
`augment_unlabelled` (a generator trained on pseudo-labelled data) score their images with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.errors import GenzooError


@dataclass
class AugmentSettings:
    per_class: int = 50
    seeds: int = 3
    steps: int = 300
    batch_size: int = 64
    synthetic_per_class: int = 200
    lr: float = 2e-3
    synthetic_fraction: float = 0.5  # share of each classifier batch that is generated (with generators)
    augment_synthetic: bool = True  # in real+classic+<gen>, classic augmentation of the generated images too


class SmallClassifier(nn.Module):
    """conv(16) -> pool -> conv(32) -> pool -> linear: the one classifier every system trains."""

    def __init__(self, channels: int, size: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (size[0] // 4) * (size[1] // 4), num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def labelled_indices(labels: Tensor, per_class: int, seed: int = 0) -> Tensor:
    """Indices of `per_class` random labelled images of every class (refused, in one line, if a class has
    fewer). Labels below 0 mark unlabelled images and are never picked."""
    classes = torch.unique(labels[labels >= 0])
    if len(classes) < 2:
        raise GenzooError("augmentation needs labelled data with at least two classes")
    smallest = min(int((labels == c).sum()) for c in classes)
    if per_class < 1 or per_class > smallest:
        raise GenzooError(
            f"--per-class must be between 1 and {smallest} (the fewest labelled training images "
            f"of any class), got {per_class}"
        )
    g = torch.Generator().manual_seed(seed)
    return torch.cat(
        [
            torch.nonzero(labels == c).flatten()[torch.randperm(int((labels == c).sum()), generator=g)[:per_class]]
            for c in classes
        ]
    )


def labelled_subset(images: Tensor, labels: Tensor, per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """`per_class` random labelled images of every class: the images and labels at `labelled_indices`."""
    idx = labelled_indices(labels, per_class, seed)
    return images[idx], labels[idx]


def classic_augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Random affine per image: rotation +-12 degrees, scale 0.9-1.1, shift +-2 pixels (zero fill)."""
    n = len(x)
    angle = (torch.rand(n, generator=g) * 2 - 1) * (12 * torch.pi / 180)
    scale = 0.9 + 0.2 * torch.rand(n, generator=g)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * (2 * 2 / x.shape[-1])  # 2 px in [-1, 1] coordinates
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def synthetic_set(model: torch.nn.Module, num_classes: int, per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """`per_class` samples of every class from a class-conditional generator."""
    torch.manual_seed(seed)
    model.eval()
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.cat(
        [model.sample(len(chunk), labels=chunk).float().cpu().clamp(0, 1) for chunk in labels.split(500)]
    )
    return images, labels


def train_classifier(
    train_x: Tensor,
    train_y: Tensor,
    num_classes: int,
    settings: AugmentSettings,
    seed: int,
    augment: bool = False,
    extra: tuple[Tensor, Tensor] | None = None,
) -> SmallClassifier:
    """SmallClassifier trained for `settings.steps` steps of `settings.batch_size` images (in eval mode).

    With `extra` (generated images), a fixed `settings.synthetic_fraction` of every batch is generated, so
    the few real images are neither swamped by a large synthetic pool nor drowned out. With `augment`, the
    real images are randomly transformed, and so are the generated ones when `settings.augment_synthetic`.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = SmallClassifier(train_x.shape[1], tuple(train_x.shape[-2:]), num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    b = settings.batch_size
    if extra is None:
        n_real = b
    elif len(train_x) == 0:
        n_real = 0
    else:
        n_real = min(b - 1, max(1, round(b * (1 - settings.synthetic_fraction))))
    for _ in range(settings.steps):
        xs, ys = [], []
        if n_real:
            idx = torch.randint(0, len(train_x), (n_real,), generator=g)
            x = train_x[idx]
            xs.append(classic_augment(x, g) if augment else x)
            ys.append(train_y[idx])
        if extra is not None:
            idx = torch.randint(0, len(extra[0]), (b - n_real,), generator=g)
            x = extra[0][idx]
            xs.append(classic_augment(x, g) if augment and settings.augment_synthetic else x)
            ys.append(extra[1][idx])
        loss = F.cross_entropy(net(torch.cat(xs)), torch.cat(ys))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of `x` whose arg-max class under `net` is `y`."""
    pred = torch.cat([net(c).argmax(1) for c in x.split(1000)])
    return float((pred == y).float().mean())
