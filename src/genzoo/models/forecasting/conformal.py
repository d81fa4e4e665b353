"""Split-conformal intervals from rolling-origin errors, made to work on short series.

A short series leaves room for only a few rolling origins inside its history, so there are too few
errors at any one horizon step to take a quantile of. The errors are therefore made scale-free (divided by
a per-step scale that already grows with the horizon: the forecaster's own sigma, or the series' in-sample
naive error times sqrt(step)) and pooled across all steps and origins; the band's half-width at level p is
the scale times the conformal quantile of the pooled scores, with the finite-sample rank ceil((n + 1) p).

How the scale grows with the step matters as much as its size: the pooled quantile is right on average
over the steps, so a scale that grows too slowly leaves the last steps under-covered and the first ones
over-covered. `growth_exponent` fits the growth (errors ~ step**b) to the replayed errors themselves, shrunk
towards a prior by how few origins there are, so a series with one or two origins keeps the scale's own
growth and a trending one, whose errors outgrow a random walk's sqrt(step), gets wider far steps.

`Warp` turns the per-level factors into a sampling rule: a standard normal draw z is mapped piecewise
linearly so that |z| = z_p lands on the calibrated quantile of level p, so the 80% and 95% bands of the
samples are each calibrated, not only one of them with the other following a Gaussian shape. Factors may
differ per step (a floor applied step by step, see `forecast_ensemble`).
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


def growth_exponent(errors: np.ndarray, prior: float = 0.5, prior_origins: float = 2.0,
                    bounds: tuple[float, float] = (0.0, 1.0)) -> float:
    """The exponent b of errors ~ step**b fitted to (origins, horizon) absolute errors: the least-squares
    slope of log(mean error over origins) on log(step), averaged with `prior` as if the prior were worth
    `prior_origins` origins (few origins give a noisy slope), then clipped to `bounds`."""
    e = np.mean(np.abs(np.asarray(errors, dtype=np.float64)), axis=0)
    steps = np.arange(1, len(e) + 1)
    keep = e > 1e-12 * (e.max() + 1e-300)
    if keep.sum() < 2:
        return prior
    slope = float(np.polyfit(np.log(steps[keep]), np.log(e[keep]), 1)[0])
    n = len(errors)
    return float(np.clip((n * slope + prior_origins * prior) / (n + prior_origins), *bounds))


@dataclass
class Warp:
    """A map of standard normal draws onto calibrated scale-free errors (see the module docstring)."""

    levels: tuple[float, ...]
    # calibrated half-width / (z_p * scale) per level, or (levels, horizon) per level and step; 1 keeps the Gaussian
    factors: tuple[float, ...] | np.ndarray

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        """The knots' |z| (levels + 1,) and their images (levels + 1,) or (levels + 1, horizon)."""
        z = np.array([0.0, *(norm.ppf(0.5 + p / 2) for p in self.levels)])
        f = np.asarray(self.factors, dtype=np.float64)
        q = np.concatenate([np.zeros((1, *f.shape[1:])), f * z[1:].reshape(-1, *(1,) * (f.ndim - 1))])
        return z, np.maximum.accumulate(q, axis=0)

    def __call__(self, draws: np.ndarray) -> np.ndarray:
        """Draws (..., horizon) mapped linearly between knots; past the last knot its segment continues."""
        z, q = self.knots()
        a = np.abs(draws)
        i = np.clip(np.searchsorted(z, a), 1, len(z) - 1)
        q = np.broadcast_to(q.reshape(len(z), -1), (len(z), a.shape[-1]))
        step = np.arange(a.shape[-1])
        lo, hi = q[i - 1, step], q[i, step]
        return np.sign(draws) * (lo + (hi - lo) * (a - z[i - 1]) / (z[i] - z[i - 1]))

    def half_width(self, level_index: int) -> float | np.ndarray:
        """The calibrated half-width of band `level_index` in units of the scale (per step if the factors are)."""
        w = self.knots()[1][level_index + 1]
        return float(w) if np.ndim(w) == 0 else w
