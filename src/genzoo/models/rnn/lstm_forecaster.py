"""DeepAR-style probabilistic LSTM forecaster (Salinas et al. 2020; gluonts' DeepAREstimator).

The network reads, at every step t, lagged values of the (optionally differenced) series divided by a
per-window scale, calendar covariates (the sin/cos of the position within the season — the month of
monthly data) and log(scale), and outputs the parameters of a likelihood for the value at t. Training
maximises that likelihood on random windows with teacher forcing; forecasting unrolls the conditioning
range, then draws `n` sample paths ancestrally, feeding each sample back as the next lag. Quantiles,
intervals and CRPS all come from the paths.

Why the knobs:
- scaling: "mean" divides by mean |z| over the context window (DeepAR), so one network serves any level;
  "standard" also removes the mean, for series whose level dwarfs their variation.
- differencing: d > 0 models z_t = y_t - y_{t-d} and integrates the paths back; a trending series (CO2)
  is then stationary, which an LSTM extrapolates far better than a level it has never seen.
- likelihood: "gaussian", "student_t" (heavy tails, robust), "negbin" (non-negative integer counts; the
  mean scales with the window, the dispersion with 1/sqrt(scale), as in DeepAR).
- spread, spread_power: ancestral sampling compounds one-step errors as if they were independent; when
  they are not (the first difference of noise about a smooth curve is negatively autocorrelated, so its
  sum over h steps varies far less than h one-step errors) the bands widen too fast with the horizon.
  The paths are then rescaled about their median by spread * h^-spread_power, fitted on rolling origins
  by CRPS (`genzoo.apps.forecast.calibrate`): a recalibration by a proper score, not a fixed constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch import distributions as D
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.protocols import Forecaster, Likelihood
from genzoo.registry import register_model

LIKELIHOODS = ("gaussian", "student_t", "negbin")
SCALINGS = ("mean", "standard", "none")


@dataclass
class LSTMForecasterConfig:
    context_length: int = 48
    prediction_length: int = 24
    hidden: int = 40
    layers: int = 2
    dropout: float = 0.1
    likelihood: str = "student_t"
    lags: tuple[int, ...] = (1, 2, 3, 12, 13, 24)
    season_length: int = 12
    differencing: int = 0
    scaling: str = "mean"
    calendar: bool = True
    nonnegative: bool = False
    #: the paths' spread about their per-step median is multiplied by spread * h ** -spread_power at step
    #: h = 1, 2, ...; fitted after training by `genzoo.apps.forecast.calibrate` (1, 0: left untouched)
    spread: float = 1.0
    spread_power: float = 0.0


def spread_factors(spread: float, power: float, horizon: int) -> np.ndarray:
    """Per-step factors spread * h ** -power for h = 1..horizon, shaped (1, horizon)."""
    return spread * np.arange(1, horizon + 1, dtype=np.float64)[None] ** -power


def _positive(x: Tensor, floor: float = 1e-4) -> Tensor:
    return F.softplus(x) + floor


@register_model("lstm_forecaster", "DeepAR-style probabilistic LSTM forecaster: sample paths, quantiles, intervals")
class LSTMForecaster(GenerativeModel, Likelihood, Forecaster):
    """Autoregressive LSTM with a Gaussian, Student-t or negative-binomial head over scaled lagged values."""

    quick = Recipe(
        "co2",
        {"context_length": 24, "prediction_length": 6, "hidden": 16, "layers": 1, "lags": [1, 2, 3], "calendar": False},
    )

    Config = LSTMForecasterConfig
    default_lr = 3e-3
    default_precision = "32-true"

    def __init__(self, config: LSTMForecasterConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        if c.likelihood not in LIKELIHOODS:
            raise GenzooError(f"unknown likelihood {c.likelihood!r}; choose one of {LIKELIHOODS}")
        if c.scaling not in SCALINGS:
            raise GenzooError(f"unknown scaling {c.scaling!r}; choose one of {SCALINGS}")
        if not c.lags or min(c.lags) < 1:
            raise GenzooError(f"lags must be positive integers, got {c.lags}")
        if c.context_length < 1 or c.prediction_length < 1:
            raise GenzooError("context_length and prediction_length must be at least 1")
        if c.spread <= 0:
            raise GenzooError(f"spread must be positive, got {c.spread}")
        if c.likelihood == "negbin" and (c.differencing or c.scaling == "standard" or c.spread != 1):
            raise GenzooError(
                "the negbin likelihood models raw counts: use differencing=0, scaling='mean' and spread=1"
            )
        self.lags = torch.tensor(sorted(set(c.lags)), dtype=torch.long)
        self.build_core(len(self.lags) + (2 if c.calendar else 0) + 1)
        self.head = nn.Linear(c.hidden, {"gaussian": 2, "student_t": 3, "negbin": 2}[c.likelihood])

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "series":
            raise GenzooError(
                f"model {cls.model_name!r} needs a time series; {info.name!r} is {info.kind} data"
            )
        m = int(info.extra.get("season_length", 1))
        lags = (1, 2, 3, m, m + 1, 2 * m) if m > 3 else (1, 2, 3, 4, 5, 6, 7)
        adapted: dict[str, Any] = {}
        n = int(info.extra.get("length", 0) or 0)
        if 0 < n < 160:  # the defaults (lags to 2m, context 48, horizon 24) need ~100 points: shrink to fit
            lags = tuple(lag for lag in lags if lag <= max(3, n // 3))
            horizon = max(1, min(24, n // 4))
            context = max(4, min(48, n - max(lags) - horizon - max(2, n // 5)))
            adapted = {"prediction_length": horizon, "context_length": context}
        return {
            "season_length": m,
            "nonnegative": bool(info.extra.get("nonnegative", False)),
            "lags": tuple(sorted(set(lags))),
            **adapted,
        }

    def training_data(self, data: Any) -> Any:
        """`genzoo.fit(model, series)` trains on random windows of the series, as the forecast app does."""
        from genzoo.data.series import SeriesDataset

        if isinstance(data, SeriesDataset):
            return ForecastWindows(self, data.series.values, data.series.start_phase())
        return data

    def windows_for(self, series: Any, epoch_size: int, seed: int = 0) -> ForecastWindows:
        """Random training windows of one `Series` (what `genzoo.apps.forecast.fit` iterates)."""
        if isinstance(series, list):
            raise GenzooError(f"{self.model_name} learns one series at a time; use global_forecaster for many")
        return ForecastWindows(self, series.values, series.start_phase(), epoch_size, seed)

    # -- geometry ------------------------------------------------------------------------------------------
    @property
    def max_lag(self) -> int:
        return int(self.lags.max())

    @property
    def window(self) -> int:
        """Points of the transformed series one training window spans (lags + context + horizon)."""
        return self.max_lag + self.config.context_length + self.config.prediction_length

    def min_history(self) -> int:
        """Raw points needed to forecast: the context, its lags, and the differencing lag."""
        return self.max_lag + self.config.context_length + self.config.differencing

    def transform(self, y: np.ndarray) -> np.ndarray:
        d = self.config.differencing
        return y[d:] - y[:-d] if d else y

    # -- the network ----------------------------------------------------------------------------------------
    def _scale(self, z_context: Tensor) -> tuple[Tensor, Tensor]:
        """(loc, scale) per window (B, 1) from the conditioning range only: nothing leaks from the future."""
        mode = self.config.scaling
        ones = torch.ones_like(z_context[:, :1])
        if mode == "none":
            return ones * 0, ones
        if mode == "standard":
            return z_context.mean(1, keepdim=True), z_context.std(1, keepdim=True).clamp_min(1e-6)
        return ones * 0, z_context.abs().mean(1, keepdim=True).clamp_min(1e-6)

    def _features(self, lagged: Tensor, phase: Tensor, log_scale: Tensor) -> Tensor:
        """lagged (B, T, n_lags) already normalised; phase (B, T) in [0, season); log_scale (B, 1)."""
        parts = [lagged]
        if self.config.calendar:
            angle = 2 * math.pi * phase / max(1, self.config.season_length)
            parts += [torch.sin(angle).unsqueeze(-1), torch.cos(angle).unsqueeze(-1)]
        parts.append(log_scale.unsqueeze(1).expand(-1, lagged.shape[1], 1))
        return torch.cat(parts, -1)

    def _distribution(self, out: Tensor, loc: Tensor, scale: Tensor) -> D.Distribution:
        """Head outputs (B, T, k) and per-window loc/scale (B, 1) -> distribution in data units."""
        lik = self.config.likelihood
        if lik == "negbin":
            mu = _positive(out[..., 0]) * scale
            alpha = _positive(out[..., 1]) / scale.sqrt()
            return D.NegativeBinomial(total_count=1.0 / alpha, logits=torch.log(alpha * mu))
        mu = loc + out[..., 0] * scale
        sigma = _positive(out[..., 1]) * scale
        if lik == "gaussian":
            return D.Normal(mu, sigma)
        return D.StudentT(2.0 + _positive(out[..., 2]), mu, sigma)

    def _lagged(self, z: Tensor, positions: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        """Normalised z[t - lag] for every position t (T,) and lag -> (B, T, n_lags)."""
        idx = positions[:, None] - self.lags.to(z.device)[None, :]
        return (z[:, idx] - loc.unsqueeze(-1)) / scale.unsqueeze(-1)

    def build_core(self, n_in: int) -> None:
        """Create the sequence network that maps `n_in` features per step to `hidden` outputs."""
        c = self.config
        self.rnn = nn.LSTM(
            n_in, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0
        )

    def core(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Sequence model over features (B, T, F) -> outputs (B, T, hidden) and a state to continue from.

        Subclasses swap the LSTM for another causal network (see `TransformerForecaster`)."""
        return self.rnn(x, state)

    def repeat_state(self, state: Any, n: int) -> Any:
        """The state of one conditioning run, shared by `n` sample paths."""
        return tuple(s.repeat(1, n, 1) for s in state)

    # -- training ------------------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Mean NLL (nats per step, data units) over the context and horizon of each window.

        batch["z"]: (B, window) transformed values; batch["phase"]: (B, window) season positions.
        """
        z, phase = batch["z"].float(), batch["phase"].float()
        c, lag = self.config.context_length, self.max_lag
        loc, scale = self._scale(z[:, lag : lag + c])
        positions = torch.arange(lag, z.shape[1], device=z.device)
        x = self._features(self._lagged(z, positions, loc, scale), phase[:, lag:], torch.log(scale))
        out, _ = self.core(x)
        nll = -self._distribution(self.head(out), loc, scale).log_prob(z[:, lag:]).mean()
        return {"loss": nll, "nll": nll.detach()}

    @torch.no_grad()
    def log_prob(self, x: Tensor, **condition: Any) -> Tensor:
        """Log-likelihood (nats) of each training-format window in `x` = {"z", "phase"}, summed over steps."""
        z, phase = x["z"].float(), x["phase"].float()  # type: ignore[index]
        c, lag = self.config.context_length, self.max_lag
        loc, scale = self._scale(z[:, lag : lag + c])
        positions = torch.arange(lag, z.shape[1], device=z.device)
        out, _ = self.core(
            self._features(self._lagged(z, positions, loc, scale), phase[:, lag:], torch.log(scale))
        )
        return self._distribution(self.head(out), loc, scale).log_prob(z[:, lag:]).sum(1)

    # -- forecasting ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, history: Any = None, horizon: int | None = None, start_phase: int = 0) -> Tensor:
        """`n` sample paths (n, horizon) continuing the raw series `history`.

        start_phase: the season position of history[0] (e.g. its calendar month - 1), for the covariates.
        """
        if history is None:
            raise GenzooError("forecasting needs the series to continue: sample(n, history=values)")
        if n < 1:
            raise GenzooError(f"number of sample paths must be at least 1, got {n}")
        c = self.config
        horizon = c.prediction_length if horizon is None else int(horizon)
        if not 1 <= horizon <= c.prediction_length:
            raise GenzooError(
                f"horizon {horizon} is outside 1..{c.prediction_length} (the model was trained for "
                f"prediction_length={c.prediction_length}; retrain with a longer one)"
            )
        y = np.asarray(history, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(y)):
            raise GenzooError("the history has NaN/inf values; fill the gaps first")
        if len(y) < self.min_history():
            raise GenzooError(
                f"the history has {len(y)} points; this model needs at least {self.min_history()}"
            )
        self.eval()
        d, lag = c.differencing, self.max_lag
        keep = lag + c.context_length
        z_all = self.transform(y)
        z_hist = torch.tensor(z_all[-keep:], dtype=torch.float32, device=self.device)
        first = len(y) - keep  # raw index of z_hist[0] (z at raw index t is y[t] - y[t-d])
        phases = torch.tensor(
            (first + start_phase + np.arange(keep + horizon)) % max(1, c.season_length),
            dtype=torch.float32,
            device=self.device,
        )

        path = z_hist.unsqueeze(0).repeat(n, 1)
        path = torch.cat([path, torch.zeros(n, horizon, device=self.device)], 1)
        loc, scale = self._scale(path[:, lag:keep])
        log_scale = torch.log(scale)
        # the conditioning range and the first future step (whose inputs are lags, all known) run once;
        # the n paths then share that state. Output at position t is the distribution of z[t].
        positions = torch.arange(lag, keep + 1, device=self.device)
        x = self._features(
            self._lagged(path[:1], positions, loc[:1], scale[:1]),
            phases[lag : keep + 1].unsqueeze(0),
            log_scale[:1],
        )
        out, state = self.core(x)
        state = self.repeat_state(state, n)
        params = self.head(out[:, -1:]).repeat(n, 1, 1)
        for h in range(horizon):
            t = keep + h
            path[:, t] = self._distribution(params, loc, scale).sample()[:, 0]
            if h + 1 == horizon:
                break
            pos = torch.tensor([t + 1], device=self.device)
            x = self._features(
                self._lagged(path, pos, loc, scale), phases[t + 1 : t + 2].expand(n, 1), log_scale
            )
            out, state = self.core(x, state)
            params = self.head(out)
        z_future = path[:, keep:].double().cpu().numpy()
        if d:  # integrate: y[t] = y[t - d] + z[t]
            ext = np.concatenate([np.repeat(y[None, -d:], n, 0), np.zeros((n, horizon))], 1)
            for h in range(horizon):
                ext[:, d + h] = ext[:, h] + z_future[:, h]
            z_future = ext[:, d:]
        if (c.spread, c.spread_power) != (1.0, 0.0):
            median = np.median(z_future, 0, keepdims=True)
            z_future = median + spread_factors(c.spread, c.spread_power, horizon) * (z_future - median)
        if c.nonnegative:
            z_future = np.maximum(z_future, 0.0)
        return torch.from_numpy(z_future)


class ForecastWindows(torch.utils.data.Dataset):
    """Random training windows of one series for `model`: {"z": transformed values, "phase": season position}.

    Every item is a fresh uniformly placed window (`epoch_size` of them per epoch), so `genzoo.fit` and
    the plain loop in `genzoo.apps.forecast` see the same data.
    """

    def __init__(
        self,
        model: LSTMForecaster,
        values: np.ndarray,
        start_phase: int = 0,
        epoch_size: int = 1024,
        seed: int = 0,
    ) -> None:
        y = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise GenzooError("the training series has NaN/inf values; fill the gaps first")
        self.z = torch.tensor(model.transform(y), dtype=torch.float32)
        self.offset = model.config.differencing + start_phase  # z[0] sits at raw index d
        self.season = max(1, model.config.season_length)
        self.length = model.window
        if len(self.z) < self.length:
            raise GenzooError(
                f"the series has {len(y)} points but one training window needs "
                f"{self.length + model.config.differencing} "
                "(lags + context_length + prediction_length); shorten context_length or lags"
            )
        self.epoch_size = epoch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.info = model.data_info

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        start = int(torch.randint(0, len(self.z) - self.length + 1, (1,), generator=self.generator))
        phase = (torch.arange(start, start + self.length) + self.offset) % self.season
        return {"z": self.z[start : start + self.length], "phase": phase.float()}
