"""A user's own data: a folder of images or a .npy/.npz array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.arrays import read_array
from genzoo.data.images import ImageDataset, stratified_split
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def read_image(path: str | Path, channels: int | None = None) -> np.ndarray:
    """One image file as float32 (H, W, C) in [0, 1]; a clear error for anything unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if channels == 1:
                im = im.convert("L")
            elif channels == 3 or im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise GenzooError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise GenzooError(f"cannot read image {path}: {e}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def load_path(path: str, split: str = "train", test_fraction: float = 0.2, **_: Any) -> ImageDataset:
    """A folder of images (sub-folders become classes) or a .npy/.npz array of images."""
    p = Path(path)
    if not p.exists():
        raise GenzooError(f"data path does not exist: {path}")
    if p.is_dir():
        images, labels, classes = _read_folder(p)
    elif p.suffix in (".npy", ".npz"):
        images, labels, classes = _read_array(p)
    else:
        raise GenzooError(f"cannot use {path} as data: give a folder of images or a .npy/.npz file")
    if split != "all":
        strat = labels if labels is not None else np.zeros(len(images), dtype=int)
        if len(images) >= 5:
            train, test = stratified_split(strat, test_fraction, seed=0)
            idx = test if split in ("test", "val") else train
            images = images[idx]
            labels = labels[idx] if labels is not None else None
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    info = DataInfo(p.name, "image", tuple(tensor.shape[1:]), classes, (0.0, 1.0))
    return ImageDataset(tensor, torch.from_numpy(labels) if labels is not None else None, info)


def _read_folder(p: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GenzooError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {p}")
    first = read_image(files[0])
    arrays = []
    for f in files:
        a = read_image(f, channels=first.shape[-1])
        if a.shape != first.shape:
            raise GenzooError(f"image {f} is {a.shape[1]}x{a.shape[0]} but {files[0].name} is "
                              f"{first.shape[1]}x{first.shape[0]}; all images in a folder must share one size")
        arrays.append(a)
    parents = sorted({f.parent.relative_to(p).as_posix() for f in files})
    if len(parents) > 1 or parents != ["."]:
        lookup = {name: i for i, name in enumerate(parents)}
        labels = np.array([lookup[f.parent.relative_to(p).as_posix()] for f in files])
        return np.stack(arrays), labels, parents
    return np.stack(arrays), None, None


def _read_array(p: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    loaded = read_array(p)
    labels = None
    if isinstance(loaded, dict):
        keys = list(loaded.keys())
        key = "x" if "x" in keys else ("images" if "images" in keys else keys[0])
        arr = loaded[key]
        for lk in ("y", "labels"):
            if lk in keys:
                labels = loaded[lk].astype(np.int64).reshape(-1)
                if len(labels) != len(arr):
                    raise GenzooError(f"{p}: {len(labels)} labels ({lk}) for {len(arr)} images ({key})")
    else:
        arr = loaded
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise GenzooError(f"{p} holds NaN or infinite values")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise GenzooError(f"{p} holds shape {arr.shape}; expected images (N, H, W) or (N, H, W, C)")
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.max() > 1.0:
        arr = arr / 255.0
    classes = [str(c) for c in np.unique(labels)] if labels is not None else None
    return arr, labels, classes
