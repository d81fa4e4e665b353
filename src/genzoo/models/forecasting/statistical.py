"""statsforecast's classical models as plain functions: fit on a history, forecast a mean and an 80% band.

The ensemble and the benchmark both need AutoETS, AutoARIMA, AutoTheta and seasonal naive on the same
histories (a rolling origin's calibration history is the previous origin's test history), and AutoARIMA
costs seconds on a long monthly series, so forecasts are cached by (values, horizon, season, model).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from genzoo.errors import GenzooError

MODELS = ("autoets", "autoarima", "autotheta", "seasonal_naive")
Z80 = 1.2815515655446004  # the standard normal's 0.9 quantile: an 80% band is mean +- Z80 sigma


def _model(name: str, season: int):  # noqa: ANN202 - statsforecast model classes share no base type
    from statsforecast import models as sf

    makers = {
        "autoets": lambda: sf.AutoETS(season_length=season),
        "autoarima": lambda: sf.AutoARIMA(season_length=season),
        "autotheta": lambda: sf.AutoTheta(season_length=season),
        "seasonal_naive": lambda: sf.SeasonalNaive(season_length=season),
    }
    if name not in makers:
        raise GenzooError(f"unknown statistical model {name!r}; choose from {MODELS}")
    return makers[name]()


@functools.lru_cache(maxsize=2048)
def _cached(values: bytes, horizon: int, season: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd
    from statsforecast import StatsForecast

    y = np.frombuffer(values, dtype=np.float64)
    # a seasonal model needs two full seasons and a little more; below that, fit it without the season
    season = season if len(y) >= 2 * season + 3 else 1
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(y)), "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = StatsForecast(models=[_model(name, season)], freq=1).forecast(df=frame, h=horizon, level=[80])
    column = [c for c in out.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
    mean = out[column].to_numpy(dtype=np.float64)
    half = (out[f"{column}-hi-80"].to_numpy(dtype=np.float64) - out[f"{column}-lo-80"].to_numpy(dtype=np.float64)) / 2
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(half))):
        raise GenzooError(f"{name} gave a non-finite forecast on a history of {len(y)} points")
    return mean, np.maximum(half / Z80, 1e-12)


def forecast(values: np.ndarray, horizon: int, season_length: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sigma) of `name`'s `horizon`-step forecast after `values`; sigma is its 80% band's half-width
    over Z80 (the Gaussian these models assume)."""
    y = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
    if len(y) < 3 or not np.all(np.isfinite(y)):
        raise GenzooError(f"{name} needs at least 3 finite points, got {len(y)}")
    mean, sigma = _cached(y.tobytes(), int(horizon), max(1, int(season_length)), name)
    return mean.copy(), sigma.copy()
