"""Tabular and 2-D density data (kind "vector"): breast_cancer, wine, digits64, moons, circles, pinwheel.

Real tables come from scikit-learn with a fixed-seed train/val/test split (20% test, 15% validation) and
are standardised with the *training* mean and standard deviation only, so nothing leaks from test.
The 2-D sets are drawn with a different seed per split. Items are `(x, label)` like image datasets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

SPLIT_SEED = 0
TEST_FRACTION, VAL_FRACTION = 0.2, 0.15


class VectorDataset(Dataset):
    """Vectors (N, D) float32 with integer labels (-1 where unlabelled)."""

    def __init__(self, x: Tensor, labels: Tensor | None, info: DataInfo) -> None:
        if x.ndim != 2:
            raise GenzooError(f"vectors must be (N, D), got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise GenzooError(f"dataset {info.name!r} contains NaN or infinite values")
        self.x = x.float().contiguous()
        self.labels = labels.long() if labels is not None else torch.full((len(x),), -1, dtype=torch.long)
        self.info = info

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.labels[i]

    def take(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """The batch of items `index` in one gather (what collating them one by one would build)."""
        return self.x[index], self.labels[index]

    def subset(self, index: Tensor | np.ndarray | list[int]) -> VectorDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return VectorDataset(self.x[index], self.labels[index], self.info)


def split_indices(n: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Fixed random train/val/test indices (20% test, 15% validation, the rest train)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(TEST_FRACTION * n)), int(round(VAL_FRACTION * n))
    return {
        "test": np.sort(perm[:n_test]),
        "val": np.sort(perm[n_test : n_test + n_val]),
        "train": np.sort(perm[n_test + n_val :]),
        "all": np.arange(n),
    }


def table(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    split: str,
    extra: dict[str, Any] | None = None,
) -> VectorDataset:
    """Split and standardise a table with training statistics only."""
    idx = split_indices(len(x))
    train = x[idx["train"]]
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    xs = (x[idx[split]] - mean) / std
    info = DataInfo(
        name, "vector", (x.shape[1],), classes, None, {"standardised": "train mean/std", **(extra or {})}
    )
    return VectorDataset(torch.from_numpy(xs).float(), torch.from_numpy(y[idx[split]]), info)


@register_dataset(
    "breast_cancer", "569 tumours x 30 features (scikit-learn), standardised; label 0 = malignant"
)
def breast_cancer(split: str = "train", **_: Any) -> VectorDataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return table("breast_cancer", d.data, d.target, list(d.target_names), split)


@register_dataset("wine", "178 wines x 13 chemical features, 3 cultivars (scikit-learn), standardised")
def wine(split: str = "train", **_: Any) -> VectorDataset:
    from sklearn.datasets import load_wine

    d = load_wine()
    return table("wine", d.data, d.target, list(d.target_names), split)


@register_dataset("digits64", "scikit-learn 8x8 digits as 64-d vectors, uniformly dequantised, standardised")
def digits64(split: str = "train", **_: Any) -> VectorDataset:
    """Pixel values k in 0..16 become (k + u) / 17 with fixed-seed u ~ U(0, 1), then standardised."""
    from sklearn.datasets import load_digits

    d = load_digits()
    u = np.random.default_rng(1).random(d.data.shape)
    return table(
        "digits64",
        (d.data + u) / 17.0,
        d.target,
        [str(i) for i in range(10)],
        split,
        {"dequantised_levels": 17},
    )


def _two_d(name: str, x: np.ndarray, y: np.ndarray, classes: list[str] | None) -> VectorDataset:
    info = DataInfo(name, "vector", (2,), classes, None, {})
    return VectorDataset(torch.from_numpy(x).float(), torch.from_numpy(y), info)


def _two_d_size(split: str, n: int | None) -> tuple[int, int]:
    seeds = {"train": 0, "val": 1, "test": 2, "all": 3}
    return n or (2000 if split in ("train", "all") else 1000), seeds[split]


@register_dataset("moons", "two interleaving half-moons in 2-D (scikit-learn), noise 0.05")
def moons(split: str = "train", n: int | None = None, noise: float = 0.05, **_: Any) -> VectorDataset:
    from sklearn.datasets import make_moons

    n, seed = _two_d_size(split, n)
    x, y = make_moons(n, noise=noise, random_state=seed)
    return _two_d("moons", x, y, ["upper", "lower"])


@register_dataset("circles", "two concentric circles in 2-D (scikit-learn), noise 0.05")
def circles(split: str = "train", n: int | None = None, noise: float = 0.05, **_: Any) -> VectorDataset:
    from sklearn.datasets import make_circles

    n, seed = _two_d_size(split, n)
    x, y = make_circles(n, noise=noise, factor=0.5, random_state=seed)
    return _two_d("circles", 2 * x, y, ["outer", "inner"])


@register_dataset("pinwheel", "five curved Gaussian arms in 2-D (pinwheel)")
def pinwheel(split: str = "train", n: int | None = None, arms: int = 5, **_: Any) -> VectorDataset:
    """Each arm is a stretched Gaussian rotated by an angle that grows with its radius."""
    n, seed = _two_d_size(split, n)
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % arms
    feats = rng.standard_normal((n, 2)) * np.array([0.3, 0.05]) + np.array([1.0, 0.0])
    angles = labels * 2 * np.pi / arms + 0.25 * np.exp(feats[:, 0])
    rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1).reshape(-1, 2, 2)
    x = 2 * np.einsum("ti,tij->tj", feats, rot)
    return _two_d("pinwheel", x, labels, [f"arm{i}" for i in range(arms)])
