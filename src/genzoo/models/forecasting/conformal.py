"""Split-conformal intervals from rolling-origin errors, made to work on short series.

A short series leaves room for only a few rolling origins inside its history, so there are too few
errors at any one horizon step to take a quantile of. The errors are therefore made scale-free (divided by
a per-step scale that already grows with the horizon: the forecaster's own sigma, or the series' in-sample
naive error times sqrt(step)) and pooled across all steps and origins; the band's half-width at level p is
the scale times the conformal quantile of the pooled scores, with the finite-sample rank ceil((n + 1) p).

`Warp` turns the per-level factors into a sampling rule: a standard normal draw z is mapped piecewise
linearly so that |z| = z_p lands on the calibrated quantile of level p, so the 80% and 95% bands of the
samples are each calibrated, not only one of them with the other following a Gaussian shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


def conformal_quantile(scores: np.ndarray, level: float, tail: float = 1.0) -> float:
    """The conformal quantile of `scores` at coverage `level`: rank ceil((n + 1) p) of n, where the
    miscoverage 1 - p is shrunk by `tail` (<= 1, a wider band for errors that are not exchangeable, such as
    steps of one origin); the largest score when the rank passes n."""
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    if len(s) == 0:
        raise ValueError("no scores to calibrate on")
    p = 1.0 - (1.0 - level) * tail
    rank = int(np.ceil((len(s) + 1) * p))
    return float(s[min(rank, len(s)) - 1])


def naive_scale(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """(horizon,) scale of a series' forecast errors without any model: the in-sample mean absolute
    seasonal-naive error (the MASE scale) times sqrt(step), as for a random walk."""
    y = np.asarray(history, dtype=np.float64)
    m = season if len(y) > season + 1 else 1
    base = np.mean(np.abs(y[m:] - y[:-m])) if len(y) > m else np.std(y)
    return np.maximum(base, 1e-12) * np.sqrt(np.arange(1, horizon + 1))


@dataclass
class Warp:
    """A map of standard normal draws onto calibrated scale-free errors (see the module docstring)."""

    levels: tuple[float, ...]
    factors: tuple[float, ...]  # calibrated half-width / (z_p * scale) per level; 1 keeps the Gaussian

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        z = np.array([0.0, *(norm.ppf(0.5 + p / 2) for p in self.levels)])
        q = np.maximum.accumulate(np.array([0.0, *(f * zi for f, zi in zip(self.factors, z[1:]))]))
        return z, q

    def __call__(self, draws: np.ndarray) -> np.ndarray:
        z, q = self.knots()
        a = np.abs(draws)
        slope = (q[-1] - q[-2]) / (z[-1] - z[-2])
        inner = np.interp(a, z, q)
        return np.sign(draws) * np.where(a > z[-1], q[-1] + slope * (a - z[-1]), inner)

    def half_width(self, level_index: int) -> float:
        """The calibrated half-width of band `level_index` in units of the scale."""
        return float(self.knots()[1][level_index + 1])
