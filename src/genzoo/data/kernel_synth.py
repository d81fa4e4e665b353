"""Synthetic series drawn from Gaussian processes with randomly composed kernels (Chronos's KernelSynth).

Why: a zero-shot forecaster must have seen trends, seasons of many lengths, level changes and noise of
every mix, and forty real series cannot show all of them. Ansari et al. (Chronos, 2024) generate such series
by sampling a GP whose kernel is a random sum or product of a few base kernels (linear, RBF, periodic at
periods common in real data, rational quadratic, white noise); the same recipe here, smaller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genzoo.data.registry import register_dataset
from genzoo.data.series import Series
from genzoo.data.series_collection import SeriesCollection
from genzoo.errors import GenzooError

PERIODS = (4, 5, 7, 12, 24, 48, 52)


def _base_kernel(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, int]:
    """One base kernel matrix over times t in [0, 1], and its period in steps (1 if not periodic)."""
    d = t[:, None] - t[None, :]
    kind = rng.choice(["linear", "rbf", "periodic", "rq", "white"], p=[0.15, 0.25, 0.35, 0.15, 0.10])
    n = len(t)
    if kind == "linear":
        c = rng.uniform(-0.5, 0.5)
        return (t[:, None] - c) * (t[None, :] - c) * rng.uniform(0.5, 4.0), 1
    if kind == "rbf":
        ell = rng.choice([0.02, 0.05, 0.1, 0.3, 1.0])
        return np.exp(-0.5 * (d / ell) ** 2), 1
    if kind == "periodic":
        period = int(rng.choice([p for p in PERIODS if p * 2 <= n] or [4]))
        ell = rng.uniform(0.5, 2.0)
        return np.exp(-2 * np.sin(np.pi * np.abs(d) * n / period) ** 2 / ell**2), period
    if kind == "rq":
        ell, alpha = rng.choice([0.05, 0.1, 0.5]), rng.uniform(0.5, 5.0)
        return (1 + d**2 / (2 * alpha * ell**2)) ** -alpha, 1
    return np.eye(n) * rng.uniform(0.01, 0.3), 1


def synth(n: int, length: int = 256, max_kernels: int = 3, seed: int = 0) -> list[Series]:
    """`n` GP series of `length` points; each one's season is the period of its periodic kernel, if any."""
    if n < 1 or length < 8:
        raise GenzooError(f"kernel_synth needs n >= 1 and length >= 8, got n={n}, length={length}")
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length)
    out = []
    for i in range(n):
        kernel, period = _base_kernel(rng, t)
        for _ in range(int(rng.integers(0, max_kernels))):
            other, p = _base_kernel(rng, t)
            kernel = kernel + other if rng.random() < 0.5 else kernel * other
            period = max(period, p)
        chol = np.linalg.cholesky(kernel + 1e-6 * np.eye(length))
        values = chol @ rng.standard_normal(length)
        values = values * rng.uniform(0.5, 20.0) + rng.uniform(-10, 100)
        out.append(Series(f"kernel-synth-{i}", values, "", "0", period))
    return out


@register_dataset("kernel_synth", "Gaussian-process series with random composed kernels (Chronos's KernelSynth)")
def kernel_synth(split: str = "train", n: int = 1000, length: int = 256, seed: int = 0, **_: Any) -> SeriesCollection:
    """Deterministic by seed; the splits differ by seed so test series are new draws."""
    return SeriesCollection(synth(int(n), int(length), seed=int(seed) + (0 if split == "train" else 1)), 0)
