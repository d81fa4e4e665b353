"""The global network averaged with AutoETS, AutoARIMA and AutoTheta, with conformally calibrated intervals.

The average is weighted per series by each member's error on rolling origins replayed inside the history
(see `combine`).

Why an ensemble: on the M3/M4 series no single method wins everywhere, and a plain average of a few
different ones beats each of them on the mean (the M4 result that combinations dominate); a global network
errs differently from the per-series statistical fits, so it adds most to the average.

Why calibration: the statistical models' Gaussian bands assume their own model is right, and the
network's quantiles were fitted on the training windows, so the averaged band is too narrow or too wide
depending on the series. Before forecasting from a history the ensemble replays itself at up to
`calibration_origins` rolling origins at the end of that history (one horizon apart, every member refitted
on the data before each origin), measures its errors in units of its own predicted sigma, and scales sigma
by their 80% quantile over Z80 (split conformal prediction on rolling origins, with the finite-sample
rank ceil((n + 1) 0.8) of the n scaled errors). A series with no room for an origin keeps the members'
own spread.
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
    calibration_origins: int = 3
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

    def member_forecasts(self, history: np.ndarray, horizon: int, season: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(point, sigma) of every member, the network first, each (horizon,)."""
        q = self.quantiles(history, horizon, season)
        lo, mid, hi = (LEVELS.index(p) for p in (0.1, 0.5, 0.9))
        out = [(q[mid], (q[hi] - q[lo]) / (2 * statistical.Z80))]
        return out + [statistical.forecast(history, horizon, season, name) for name in self.config.members]

    def combine(self, history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(point, sigma, conformal factor) of the ensemble's forecast after `history`.

        The replayed origins do two jobs: the members are weighted by the inverse of their mean absolute
        error there (equal weights when there is no room for an origin), so a member that fails on this
        series (a network extrapolating a trend it never saw) counts little; and the weighted average's
        errors in units of its sigma give the conformal factor."""
        origins = [len(history) - k * horizon for k in range(1, self.config.calibration_origins + 1)]
        origins = [o for o in origins if o >= max(MIN_FIT, self.min_history())]
        replays = [(self.member_forecasts(history[:o], horizon, season), history[o : o + horizon]) for o in origins]
        members = self.member_forecasts(history, horizon, season)
        weights = np.ones(len(members))
        if replays:
            mae = np.array([np.mean([np.abs(truth - f[j][0]).mean() for f, truth in replays])
                            for j in range(len(members))])
            weights = 1.0 / np.maximum(mae, 1e-9 * (mae.max() + 1e-12))
        weights = weights / weights.sum()

        def mix(forecasts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
            point = sum(w * f[0] for w, f in zip(weights, forecasts))
            sigma = sum(w * f[1] for w, f in zip(weights, forecasts))
            return point, np.maximum(sigma, 1e-12)

        point, sigma = mix(members)
        if not replays:
            return point, sigma, 1.0
        errors = []
        for forecasts, truth in replays:
            p, sd = mix(forecasts)
            errors.append(np.abs(truth - p) / sd)
        z = statistical.Z80 if self.config.coverage == 0.8 else _normal_quantile(0.5 + self.config.coverage / 2)
        scores = np.concatenate(errors)
        level = min(1.0, np.ceil((len(scores) + 1) * self.config.coverage) / len(scores))  # split-conformal rank
        return point, sigma, float(np.quantile(scores, level, method="higher")) / z

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
        point, sigma, factor = self.combine(y, horizon, season)
        z = torch.randn(n, horizon, dtype=torch.float64).numpy()
        return torch.from_numpy(point + factor * sigma * z)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
