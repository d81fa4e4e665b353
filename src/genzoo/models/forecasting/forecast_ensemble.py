"""The global network averaged with AutoETS, AutoARIMA and AutoTheta, with conformally calibrated intervals.

Why an ensemble: on the M3/M4 series no single method wins everywhere, and a plain average of a few
different ones beats each of them on the mean (the M4 result that combinations dominate); a global network
errs differently from the per-series statistical fits, so it adds to the average where it is good.

Weights: before forecasting from a history the ensemble replays itself at up to `calibration_origins`
rolling origins at the end of that history (one horizon apart, every member refitted on the data before
each origin) and weights each member by the inverse of its mean absolute error there (to the power
`weight_power`). The network was usually trained on those very windows, so its replay error is
optimistic: its weight is multiplied by `network_weight` (0 drops it) and it is left out on histories
shorter than `network_min_history`, where a global net has little context (yearly series).

Why calibration: the statistical models' Gaussian bands assume their own model is right, and the
network's quantiles were fitted on the training windows, so the averaged band is too narrow or too wide
depending on the series. The replayed errors, divided by a per-step scale (`calibration_scale`: the mix's
sigma or the naive scale, see `conformal`) and pooled over steps and origins, give split-conformal
half-widths at each of `levels`. The origin whose errors are scored is held apart from the weighting: its
mix is weighted on the other origins only (cross-fitting), so the scores are not those of weights chosen to
fit them. A series with no room for an origin keeps the members' own spread.

Two guards for what a few origins cannot show (`calibration_growth`, `calibration_gaussian_floor`). The
scale's growth over the steps may be refitted to the replayed scores (`conformal.growth_exponent`: the
scores' own slope over log(step), shrunk towards none; only ever faster than the scale's own). And the
bands may be floored by a Gaussian twice over: each band at least as wide as the Gaussian band of the mix's
own sigma at that step (three lucky origins can make a band narrower than the members themselves believe),
and the outer band at least the inner one's Gaussian extension (a 95% band from 18 scores is little more
than their maximum, which understates the tail).
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
from genzoo.models.forecasting.conformal import Warp, conformal_quantile, growth_exponent, naive_scale
from genzoo.models.forecasting.global_forecaster import LEVELS, GlobalForecaster, GlobalForecasterConfig
from genzoo.registry import register_model

MIN_FIT = 10  # the shortest history a calibration origin may leave to fit the members on


@dataclass
class ForecastEnsembleConfig(GlobalForecasterConfig):
    members: tuple[str, ...] = ("autoets", "autoarima", "autotheta")
    calibration_origins: int = 3
    levels: tuple[float, ...] = (0.8, 0.95)  # the bands the calibration aims at
    # the defaults below are the options benchmarks/forecast.py chose on its tuning half of the series
    network_weight: float = 1.0  # multiplies the network's inverse-error weight (0 leaves it out)
    network_min_history: int = 150  # histories shorter than this leave the network out
    weight_power: float = 2.0  # weights are 1 / MAE**power: 2 leans harder on the member that replays best
    calibration_scale: str = "sigma"  # "sigma" (the mix's own) or "naive" (in-sample naive error x sqrt(step))
    calibration_tail: float = 1.0  # shrinks the miscoverage the conformal rank aims at (<= 1: wider bands)
    calibration_growth: str = "fitted"  # "scale" (the scale's own growth over steps) or "fitted" (refitted on replays)
    calibration_gaussian_floor: bool = True  # bands never narrower than the mix's own Gaussian band, nor thinner-tailed


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
        if not config.levels or not all(0.5 <= p < 1 for p in config.levels) or list(config.levels) != sorted(
                set(config.levels)):
            raise GenzooError(f"levels must be increasing and in [0.5, 1), got {config.levels}")
        if config.calibration_scale not in ("sigma", "naive"):
            raise GenzooError(f"calibration_scale must be 'sigma' or 'naive', got {config.calibration_scale!r}")
        if config.calibration_growth not in ("scale", "fitted"):
            raise GenzooError(f"calibration_growth must be 'scale' or 'fitted', got {config.calibration_growth!r}")
        if not 0 < config.calibration_tail <= 1 or config.network_weight < 0 or config.weight_power < 0:
            raise GenzooError("calibration_tail must be in (0, 1], network_weight and weight_power at least 0")

    def member_forecasts(self, history: np.ndarray, horizon: int, season: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(point, sigma) of every member, the network first, each (horizon,)."""
        q = self.quantiles(history, horizon, season)
        lo, mid, hi = (LEVELS.index(p) for p in (0.1, 0.5, 0.9))
        out = [(q[mid], (q[hi] - q[lo]) / (2 * statistical.Z80))]
        return out + [statistical.forecast(history, horizon, season, name) for name in self.config.members]

    def replays(self, history: np.ndarray, horizon: int, season: int) -> tuple[list, list]:
        """The members' forecasts after `history`, and (forecasts, truth, history) at each replayed origin."""
        origins = [len(history) - k * horizon for k in range(1, self.config.calibration_origins + 1)]
        origins = [o for o in origins if o >= max(MIN_FIT, self.min_history())]
        replays = [(self.member_forecasts(history[:o], horizon, season), history[o : o + horizon], history[:o])
                   for o in origins]
        return self.member_forecasts(history, horizon, season), replays

    def weights(self, replays: list, n_members: int, length: int) -> np.ndarray:
        """Inverse replay MAE per member (equal without replays), the network's scaled by `network_weight`."""
        weights = np.ones(n_members)
        if replays:
            mae = np.array([np.mean([np.abs(truth - f[j][0]).mean() for f, truth, _ in replays])
                            for j in range(n_members)])
            weights = np.maximum(mae, 1e-9 * (mae.max() + 1e-12)) ** -self.config.weight_power
            weights = weights / weights.max()
        weights[0] *= self.config.network_weight if length >= self.config.network_min_history else 0.0
        if n_members > 1 and weights[1:].sum() == 0:
            weights[1:] = 1.0
        return weights / weights.sum()

    def mix(self, forecasts: list, weights: np.ndarray, history: np.ndarray, season: int) -> tuple:
        """(point, sigma, scale): the weighted mean, the weighted members' sigma, and the calibration's scale."""
        point = sum(w * f[0] for w, f in zip(weights, forecasts))
        sigma = np.maximum(sum(w * f[1] for w, f in zip(weights, forecasts)), 1e-12)
        scale = naive_scale(history, len(point), season) if self.config.calibration_scale == "naive" else sigma
        return point, sigma, scale

    def combine_replays(self, members: list, replays: list, history: np.ndarray, season: int) -> tuple:
        """(point, scale, Warp) from `replays`' output: the weighted mix and its conformal calibration."""
        config = self.config
        point, sigma, scale = self.mix(members, self.weights(replays, len(members), len(history)), history, season)
        if not replays:
            sigma = np.maximum(sum(f[1] for f in members) / len(members), 1e-12)
            return point, sigma, Warp(tuple(config.levels), (1.0,) * len(config.levels))
        scores = []
        for j, (forecasts, truth, past) in enumerate(replays):
            others = replays[:j] + replays[j + 1 :]  # cross-fitting: weights from the other origins
            p, _, sd = self.mix(forecasts, self.weights(others, len(forecasts), len(past)), past, season)
            scores.append(np.abs(truth - p) / sd)
        steps = np.arange(1, len(point) + 1)
        if config.calibration_growth == "fitted":  # scores that still grow with the step: let the scale grow too
            growth = steps ** growth_exponent(np.array(scores), prior=0.0, bounds=(0.0, 1.0))
            scores, scale = [sc / growth for sc in scores], scale * growth
        pooled = np.concatenate(scores)
        factors = np.array([conformal_quantile(pooled, p, config.calibration_tail) / _normal_quantile(0.5 + p / 2)
                            for p in config.levels])
        if config.calibration_gaussian_floor:  # per step: the mix's own Gaussian band; per level: a Gaussian's tail
            factors = np.maximum.accumulate(np.maximum(factors[:, None], (sigma / scale)[None, :]), axis=0)
        return point, scale, Warp(tuple(config.levels), factors)

    def combine(self, history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray, Warp]:
        """(point, scale, Warp) of the ensemble's forecast after `history`: the band of level p is
        point +- scale * warp.half_width(p's index)."""
        members, replays = self.replays(np.asarray(history, dtype=np.float64), horizon, season)
        return self.combine_replays(members, replays, np.asarray(history, dtype=np.float64), season)

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
        point, scale, warp = self.combine(y, horizon, season)
        z = torch.randn(n, horizon, dtype=torch.float64).numpy()
        return torch.from_numpy(point + scale * warp(z))


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
