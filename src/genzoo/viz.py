"""Pictures people would rather look at: image grids and strips as PNG (no torchvision needed)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def make_grid(images: Tensor, nrow: int | None = None, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one uint8 (H', W', 3) array with `nrow` images per row."""
    images = images.detach().float().cpu().clamp(0, 1)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    n, c, h, w = images.shape
    if c == 1:
        images = images.expand(n, 3, h, w)
    elif c != 3:
        images = images[:, :3]
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = torch.full((3, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y : y + h, x : x + w] = images[i]
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int | None = None, scale: int = 1) -> Path:
    """Write a PNG grid of images in [0, 1]; `scale` enlarges small images (nearest) for viewing."""
    from PIL import Image

    arr = make_grid(images, nrow)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
