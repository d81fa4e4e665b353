"""Paired image-to-image data: (source, target) pairs for pix2pix-style translation.

`photo_pairs` makes an offline task from the `photos` patches (grey -> colour, or edges -> photo);
`paired` reads a user's two folders whose files pair up by name (e.g. sketches/ and photos/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from genzoo.data.images import photos, stratified_split
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

TASKS = ("grey2colour", "edges2photo")


class PairedDataset(Dataset):
    """Items `(source, target)`, both (C, H, W) in [0, 1]; `info.extra["source_shape"]` is the source's."""

    def __init__(self, source: Tensor, target: Tensor, info: DataInfo) -> None:
        if len(source) != len(target) or source.shape[-2:] != target.shape[-2:]:
            raise GenzooError(
                f"paired images must match in number and size: {tuple(source.shape)} vs {tuple(target.shape)}"
            )
        self.source, self.target, self.info = source.float(), target.float(), info

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.source[i], self.target[i]


def _grey(images: Tensor) -> Tensor:
    return (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def sobel_edges(images: Tensor) -> Tensor:
    """Edge magnitude of the grey image (Sobel), scaled to [0, 1] per image: a line-drawing stand-in."""
    g = _grey(images)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), kx)
    gy = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), kx.transpose(2, 3))
    mag = (gx**2 + gy**2).sqrt()
    return mag / mag.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)


@register_dataset("photo_pairs", "paired translation task from photo patches: task=grey2colour | edges2photo")
def photo_pairs(
    split: str = "train", task: str = "grey2colour", patch: int = 32, n: int | None = None, **_: Any
) -> PairedDataset:
    """Sources made from `photos` patches: grey -> colour or Sobel edges -> photo (test: held-out photos)."""
    if task not in TASKS:
        raise GenzooError(f"unknown paired task {task!r}; choose one of {', '.join(TASKS)}")
    target = photos(split, patch=patch, n=n).images
    source = _grey(target) if task == "grey2colour" else sobel_edges(target)
    info = DataInfo(
        f"photo_pairs-{task}",
        "paired_image",
        tuple(target.shape[1:]),
        None,
        (0.0, 1.0),
        {"source_shape": list(source.shape[1:]), "task": task},
    )
    return PairedDataset(source, target, info)


@register_dataset("paired", "a user's paired folders: source=DIR, target=DIR (files pair up by name)")
def paired_folders(
    split: str = "train",
    source: str | None = None,
    target: str | None = None,
    test_fraction: float = 0.2,
    **_: Any,
) -> PairedDataset:
    """Two folders of equally sized images; `a/x.png` pairs with `b/x.jpg` (matching file stems)."""
    from genzoo.data.files import IMAGE_SUFFIXES, read_image

    if not source or not target:
        raise GenzooError("paired data needs source=DIR and target=DIR")
    src_dir, tgt_dir = Path(source), Path(target)
    for d in (src_dir, tgt_dir):
        if not d.is_dir():
            raise GenzooError(f"paired data folder does not exist: {d}")

    def by_stem(d: Path) -> dict[str, Path]:
        return {f.stem: f for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES}

    a, b = by_stem(src_dir), by_stem(tgt_dir)
    stems = sorted(set(a) & set(b))
    if not stems:
        raise GenzooError(f"no file names appear in both {src_dir} and {tgt_dir}; pairs match by name")
    src = np.stack([read_image(a[s]) for s in stems])
    tgt = np.stack([read_image(b[s]) for s in stems])
    if split != "all" and len(stems) >= 5:
        train, test = stratified_split(np.zeros(len(stems), dtype=int), test_fraction, seed=0)
        idx = test if split in ("test", "val") else train
        src, tgt = src[idx], tgt[idx]
    to_t = lambda arr: torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()  # noqa: E731
    s, t = to_t(src), to_t(tgt)
    info = DataInfo(
        f"paired-{src_dir.name}-{tgt_dir.name}",
        "paired_image",
        tuple(t.shape[1:]),
        None,
        (0.0, 1.0),
        {"source_shape": list(s.shape[1:])},
    )
    return PairedDataset(s, t, info)
