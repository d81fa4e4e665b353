"""Forecast accuracy: MASE, sMAPE, sample-based CRPS, interval coverage (numpy in, float out).

Point metrics score the median of the sample paths (the CRPS-optimal point for absolute errors). CRPS uses
the energy form E|X - y| - 0.5 E|X - X'| over the samples, averaged over horizon steps, so a model is
rewarded for a sharp *and* calibrated distribution; a point forecast (one sample) reduces it to the MAE.
"""

from __future__ import annotations

import numpy as np

from genzoo.errors import GenzooError


def _check(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape[-1] != len(y):
        raise GenzooError(f"forecast covers {pred.shape[-1]} steps but the truth has {len(y)}")
    return y, pred


def mase(y: np.ndarray, point: np.ndarray, insample: np.ndarray, season_length: int = 1) -> float:
    """Mean absolute error scaled by the in-sample MAE of the seasonal naive one-step forecast."""
    y, point = _check(y, point)
    insample = np.asarray(insample, dtype=np.float64)
    m = max(1, int(season_length))
    if len(insample) <= m:
        raise GenzooError(f"MASE needs more than {m} in-sample points, got {len(insample)}")
    scale = np.mean(np.abs(insample[m:] - insample[:-m]))
    if scale == 0:
        raise GenzooError("MASE is undefined: the in-sample seasonal naive forecast is perfect")
    return float(np.mean(np.abs(y - point)) / scale)


def smape(y: np.ndarray, point: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200), the M4 definition; steps where both are 0 count as 0."""
    y, point = _check(y, point)
    denom = np.abs(y) + np.abs(point)
    ratio = np.where(denom > 0, 2.0 * np.abs(y - point) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(100.0 * np.mean(ratio))


def crps(y: np.ndarray, samples: np.ndarray) -> float:
    """Continuous ranked probability score from samples (S, H), averaged over the horizon (data units)."""
    y, samples = _check(y, samples)
    samples = samples.reshape(-1, len(y))
    term1 = np.mean(np.abs(samples - y[None]), axis=0)
    s = np.sort(samples, axis=0)
    n = len(s)
    # E|X - X'| over all ordered pairs from the sorted samples in O(S log S): sum_i (2i - n - 1) x_(i) / n^2
    weights = (2 * np.arange(1, n + 1) - n - 1)[:, None]
    term2 = 2.0 * np.sum(weights * s, axis=0) / (n * n)
    return float(np.mean(term1 - 0.5 * term2))


def quantiles(samples: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """Per-step empirical quantiles of sample paths (S, H) -> (len(levels), H)."""
    return np.quantile(np.asarray(samples, dtype=np.float64), levels, axis=0)


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of steps whose truth lies inside [lower, upper]."""
    y, lower = _check(y, lower)
    upper = np.asarray(upper, dtype=np.float64)
    return float(np.mean((y >= lower) & (y <= upper)))


def score(y: np.ndarray, samples: np.ndarray, insample: np.ndarray, season_length: int) -> dict[str, float]:
    """All four benchmark metrics of sample paths (S, H) against the truth (H,)."""
    q10, q50, q90 = quantiles(samples, (0.1, 0.5, 0.9))
    return {
        "mase": mase(y, q50, insample, season_length),
        "smape": smape(y, q50),
        "crps": crps(y, samples),
        "coverage_80": coverage(y, q10, q90),
    }
