"""Synthetic series drawn from Gaussian processes with randomly composed kernels (Chronos's KernelSynth).

Why: a zero-shot forecaster must have seen trends, seasons of many lengths, level changes and noise of
every mix, and forty real series cannot show all of them. Ansari et al. (Chronos, 2024) generate such series
by sampling a GP whose kernel is a random sum or product of a few base kernels (linear, RBF, periodic at
periods common in real data, rational quadratic, white noise); the same recipe here, smaller.

`synth_mix` adds what stationary GP draws on a fixed 256-point grid rarely show and real series mostly are:
integrated series (random walks with drift, AR innovations and seasons, where the last value is the hard
forecast to beat), saturating S-shaped trends with noise (adoption, demography), observation noise on the
smooth GP draws, and lengths from a few dozen points to several hundred.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import lfilter

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
    out = []
    for i in range(n):
        values, period = _gp(rng, length, max_kernels)
        values = values * rng.uniform(0.5, 20.0) + rng.uniform(-10, 100)
        out.append(Series(f"kernel-synth-{i}", values, "", "0", period))
    return out


def _gp(rng: np.random.Generator, length: int, max_kernels: int) -> tuple[np.ndarray, int]:
    """One GP draw with a random composed kernel over `length` points, and its season."""
    t = np.linspace(0.0, 1.0, length)
    kernel, period = _base_kernel(rng, t)
    for _ in range(int(rng.integers(0, max_kernels))):
        other, p = _base_kernel(rng, t)
        kernel = kernel + other if rng.random() < 0.5 else kernel * other
        period = max(period, p)
    chol = np.linalg.cholesky(kernel + 1e-6 * np.eye(length))
    return chol @ rng.standard_normal(length), period


def _season(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int]:
    """A repeating profile of a random common period (zero mean, unit spread), slowly changing in size."""
    period = int(rng.choice([p for p in PERIODS if 2 * p <= length] or [4]))
    profile = rng.standard_normal(period)
    profile = (profile - profile.mean()) / (profile.std() + 1e-9)
    drift = 1.0 + np.linspace(0.0, rng.uniform(-0.5, 0.5), length)
    return np.resize(profile, length) * drift, period


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """The AR(1) series x[i] = phi * x[i-1] + innovations[i], started at x[0] = innovations[0]."""
    return lfilter([1.0], [1.0, -phi], innovations)


def _walk(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int]:
    """An integrated series: cumulated AR(1) steps with a drift, optionally a season and observation noise."""
    phi = rng.uniform(-0.3, 0.9)
    steps = _ar1(rng.standard_normal(length), phi)
    drift = rng.normal(0.0, 0.5) if rng.random() < 0.6 else 0.0
    values = np.cumsum(steps + drift)
    period = 1
    if rng.random() < 0.4:
        season, period = _season(rng, length)
        values = values + season * rng.uniform(0.5, 8.0)
    return values + rng.standard_normal(length) * rng.uniform(0.0, 1.5), period


def _curve(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int]:
    """A saturating S-shaped trend (logistic, centre anywhere around the window) with AR noise."""
    t = np.linspace(0.0, 1.0, length)
    trend = 1.0 / (1.0 + np.exp(-rng.uniform(3.0, 20.0) * (t - rng.uniform(-0.3, 1.3))))
    e = rng.standard_normal(length)
    e[0] = 0.0  # the noise starts at zero
    noise = _ar1(e, rng.uniform(0.0, 0.9))
    return trend * rng.choice([-1.0, 1.0]) + noise * rng.uniform(0.002, 0.05), 1


FAMILIES = ("gp", "walk", "curve")


def synth_mix(
    n: int, lengths: tuple[int, int] = (48, 512), weights: tuple[float, float, float] = (0.6, 0.3, 0.1),
    noise: float = 0.2, max_kernels: int = 3, seed: int = 0,
) -> list[Series]:
    """`n` series of the FAMILIES (GP draws, integrated walks, S-curves) in proportions `weights`, each of a
    log-uniform length in `lengths`; GP draws get observation noise of up to `noise` times their spread."""
    if n < 1 or not 8 <= lengths[0] <= lengths[1]:
        raise GenzooError(f"synth_mix needs n >= 1 and 8 <= min length <= max length, got n={n}, {lengths}")
    if len(weights) != len(FAMILIES) or min(weights) < 0 or sum(weights) <= 0:
        raise GenzooError(f"synth_mix needs {len(FAMILIES)} non-negative weights for {FAMILIES}, got {weights}")
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=np.float64) / sum(weights)
    out = []
    for i in range(n):
        length = int(np.exp(rng.uniform(np.log(lengths[0]), np.log(lengths[1] + 1))))
        family = FAMILIES[int(rng.choice(len(FAMILIES), p=p))]
        if family == "gp":
            values, period = _gp(rng, length, max_kernels)
            values = values + rng.standard_normal(length) * values.std() * rng.uniform(0.0, noise)
        elif family == "walk":
            values, period = _walk(rng, length)
        else:
            values, period = _curve(rng, length)
        values = values * rng.uniform(0.5, 20.0) + rng.uniform(-10, 100)
        out.append(Series(f"kernel-synth-{family}-{i}", values, "", "0", period))
    return out


@register_dataset("kernel_synth", "Gaussian-process series with random composed kernels (Chronos's KernelSynth)")
def kernel_synth(split: str = "train", n: int = 1000, length: int = 256, seed: int = 0, **_: Any) -> SeriesCollection:
    """Deterministic by seed; the splits differ by seed so test series are new draws."""
    return SeriesCollection(synth(int(n), int(length), seed=int(seed) + (0 if split == "train" else 1)), 0)
