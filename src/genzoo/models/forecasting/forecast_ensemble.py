"""The global network averaged with AutoETS, AutoARIMA and AutoTheta, with conformally calibrated intervals.

Why an ensemble: on the M3/M4 series no single method wins everywhere, and a plain average of a few
different ones beats each of them on the mean (the M4 result that combinations dominate); a global network
errs differently from the per-series statistical fits, so it adds most to the average.

Why calibration: the statistical models' Gaussian bands assume their own model is right, and the
network's quantiles were fitted on the training windows, so the averaged band is too narrow or too wide
depending on the series. Before forecasting from a history the ensemble replays itself at up to
`calibration_origins` rolling origins at the end of that history (one horizon apart, every member refitted
on the data before each origin), measures its errors in units of its own predicted sigma, and scales sigma
by their 80% quantile over Z80 (split conformal prediction on rolling origins). Few origins on a short
series give a noisy factor, so it is shrunk towards 1 with the weight of one origin: a series with no room
for an origin keeps the members' own spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.errors import GenzooError
from genzoo.models.forecasting import statistical
from genzoo.models.forecasting.global_forecaster import LEVELS, GlobalForecaster, GlobalForecasterConfig
from genzoo.registry import register_model

MIN_FIT = 10  # the shortest history a calibration origin may leave to fit the members on


@dataclass
class ForecastEnsembleConfig(GlobalForecasterConfig):
    members: tuple[str, ...] = ("autoets", "autoarima", "autotheta")
    calibration_origins: int = 2
    coverage: float = 0.8  # the band the calibration aims at (its quantile of the scaled errors)


@register_model(
    "forecast_ensemble",
    "global N-BEATS-style network + AutoETS/AutoARIMA/AutoTheta average, conformal intervals on rolling origins",
)
class ForecastEnsemble(GlobalForecaster):
    """A `GlobalForecaster` whose forecasts are averaged with statistical models fitted on each history."""

    quick = Recipe(
        "co2",
        {"context_length": 24, "prediction_length": 6, "hidden": 16, "blocks": 1, "members": ["autotheta"],
         "calibration_origins": 1},
    )

    Config = ForecastEnsembleConfig

    def __init__(self, config: ForecastEnsembleConfig, data_info: Any = None) -> None:
        super().__init__(config, data_info)
        for name in config.members:
            if name not in statistical.MODELS:
                raise GenzooError(f"unknown ensemble member {name!r}; choose from {statistical.MODELS}")
        if not 0.5 <= config.coverage < 1:
            raise GenzooError(f"coverage must be in [0.5, 1), got {config.coverage}")

    def point_and_sigma(self, history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
        """The members' averaged point forecast and averaged sigma (uncalibrated), each (horizon,)."""
        q = self.quantiles(history, horizon, season)
        lo, mid, hi = (LEVELS.index(p) for p in (0.1, 0.5, 0.9))
        points, sigmas = [q[mid]], [(q[hi] - q[lo]) / (2 * statistical.Z80)]
        for name in self.config.members:
            mean, sigma = statistical.forecast(history, horizon, season, name)
            points.append(mean)
            sigmas.append(sigma)
        return np.mean(points, 0), np.maximum(np.mean(sigmas, 0), 1e-12)

    def calibration_factor(self, history: np.ndarray, horizon: int, season: int) -> float:
        """The conformal factor on sigma from rolling origins at the end of `history` (1: no room)."""
        origins = [len(history) - k * horizon for k in range(1, self.config.calibration_origins + 1)]
        origins = [o for o in origins if o >= max(MIN_FIT, self.min_history())]
        if not origins:
            return 1.0
        errors = []
        for o in origins:
            point, sigma = self.point_and_sigma(history[:o], horizon, season)
            errors.append(np.abs(history[o : o + horizon] - point) / sigma)
        z = statistical.Z80 if self.config.coverage == 0.8 else _normal_quantile(0.5 + self.config.coverage / 2)
        measured = float(np.quantile(np.concatenate(errors), self.config.coverage)) / z
        return (len(origins) * measured + 1.0) / (len(origins) + 1)

    @torch.no_grad()
    def sample(
        self, n: int, history: Any = None, horizon: int | None = None, start_phase: int = 0,
        season_length: int | None = None,
    ) -> Tensor:
        """`n` Gaussian sample paths (n, horizon) about the averaged forecast, sigma calibrated."""
        if history is None:
            raise GenzooError("forecasting needs the series to continue: sample(n, history=values)")
        if n < 1:
            raise GenzooError(f"number of sample paths must be at least 1, got {n}")
        y = np.asarray(history, dtype=np.float64).reshape(-1)
        horizon = self.config.prediction_length if horizon is None else int(horizon)
        season = int(season_length or self.config.season_length)
        point, sigma = self.point_and_sigma(y, horizon, season)
        factor = self.calibration_factor(y, horizon, season)
        z = torch.randn(n, horizon, dtype=torch.float64).numpy()
        return torch.from_numpy(point + factor * sigma * z)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
