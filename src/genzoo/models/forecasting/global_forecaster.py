"""A global N-BEATS-style forecaster: one network trained on the windows of many series at once.

Why global: a single series of 50-500 points is too little to train a neural forecaster on (the per-series
LSTM loses to seasonal naive on short series), but windows pooled from many series are plenty; the M4
winners and N-BEATS (Oreshkin et al. 2020) learn this way. Each window is made scale-free before the
network sees it: values minus the last observed value, divided by the mean absolute one-step change of the
context, so a GDP series and a heart-rate trace look alike.

The network is N-BEATS's doubly residual stack of fully connected blocks (each block explains part of its
input, "backcast", passes on the rest and adds its part of the forecast), with two additions for series of
any length and season: the context is left-padded and a mask says which points are real, and the
seasonal-naive forecast and the season length are inputs, so the network starts from the forecast that is
hard to beat. Its head gives quantiles at fixed levels (trained with the pinball loss); sample paths draw
one level per path and interpolate the quantile function, so paths are smooth and the marginals are the
forecast quantiles.

Trained on the offline series collection plus synthetic series (`kernel_synth.py`), the
same model is the shipped zero-shot forecaster (see `genzoo forecast predict --model zero-shot`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.protocols import Forecaster
from genzoo.registry import register_model

LEVELS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)
SEASON_BUCKETS = (1, 4, 7, 12, 24)  # one-hot of the season length: 1, 2-4, 5-7, 8-12, 13-24, more
CLIP = 50.0  # normalised values beyond this are clipped (a level shift of 50 typical steps)


@dataclass
class GlobalForecasterConfig:
    context_length: int = 96
    prediction_length: int = 48
    hidden: int = 256
    blocks: int = 3
    layers_per_block: int = 2
    dropout: float = 0.0
    season_length: int = 1  # used when a caller gives none (a single-series run)
    min_context: int = 8  # the shortest history a training window may have
    # Move the forecast this fraction of the way to the seasonal-naive one (the whole distribution, by the gap
    # of its median). A hedge for a network that over-extrapolates on series unlike its training data: per
    # series the MAE of the blend is at most the blend of the MAEs, so every series the network beats seasonal
    # naive on stays won. 0 (the default) is the network alone; the zero-shot checkpoint's value is chosen on
    # validation series it never saw (benchmarks/zero_shot.py).
    shrink: float = 0.0
    # Independent networks (own initialisation, own loss) whose quantiles are averaged: a seed ensemble, against
    # the step-to-step swings of one small network's forecasts. 1 (the default) is one network.
    networks: int = 1


def season_features(m: int) -> np.ndarray:
    onehot = np.zeros(len(SEASON_BUCKETS) + 1, dtype=np.float32)
    onehot[int(np.searchsorted(SEASON_BUCKETS, max(1, m)))] = 1.0
    return onehot


def seasonal_naive(y: np.ndarray, m: int, horizon: int) -> np.ndarray:
    """The last season repeated over `horizon` steps (the last value when m is 1 or the history is shorter)."""
    if m > 1 and len(y) >= m:
        return y[len(y) - m + (np.arange(horizon) % m)]
    return np.full(horizon, y[-1])


def encode(history: np.ndarray, m: int, context: int, horizon: int) -> tuple[np.ndarray, float, float]:
    """One window's network input (context values, mask, seasonal-naive forecast, season one-hot) from a raw
    history, with the (loc, scale) that map network units back to data units."""
    y = np.asarray(history, dtype=np.float64)[-context:]
    n = len(y)
    loc = float(y[-1])
    steps = np.abs(np.diff(y))
    scale = float(steps.mean()) if n > 1 else 0.0
    if scale <= 1e-12:
        scale = float(np.abs(y - y.mean()).mean()) or max(abs(loc), 1.0) * 1e-3
    x = np.full(context, y[0])
    x[context - n :] = y
    mask = np.zeros(context, dtype=np.float32)
    mask[context - n :] = 1.0
    naive = seasonal_naive(np.asarray(history, dtype=np.float64), m, horizon)
    parts = [
        np.clip((x - loc) / scale, -CLIP, CLIP) * mask,
        mask,
        np.clip((naive - loc) / scale, -CLIP, CLIP),
        season_features(m),
    ]
    return np.concatenate(parts).astype(np.float32), loc, scale


class Block(nn.Module):
    """One N-BEATS block: an MLP whose output splits into a backcast (subtracted from the input) and a
    forecast contribution (added to the output)."""

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.mlp = nn.Sequential(*mods)
        self.backcast = nn.Linear(hidden, n_in)
        self.forecast = nn.Linear(hidden, n_out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.mlp(x)
        return self.backcast(h), self.forecast(h)


@register_model("global_forecaster", "N-BEATS-style network trained across many series: quantile forecasts, zero-shot")
class GlobalForecaster(GenerativeModel, Forecaster):
    """Scale-free windows of many series -> quantiles of the next `prediction_length` steps."""

    quick = Recipe("co2", {"context_length": 24, "prediction_length": 6, "hidden": 16, "blocks": 1})

    Config = GlobalForecasterConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: GlobalForecasterConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        if c.context_length < 2 or c.prediction_length < 1:
            raise GenzooError("context_length must be at least 2 and prediction_length at least 1")
        if not 1 <= c.min_context <= c.context_length:
            raise GenzooError(f"min_context must be in 1..context_length, got {c.min_context}")
        if not 0.0 <= c.shrink <= 1.0:
            raise GenzooError(f"shrink must be in [0, 1], got {c.shrink}")
        if c.networks < 1:
            raise GenzooError(f"networks must be at least 1, got {c.networks}")
        self.n_in = 2 * c.context_length + c.prediction_length + len(SEASON_BUCKETS) + 1
        n_out = c.prediction_length * len(LEVELS)

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                Block(self.n_in, n_out, c.hidden, c.layers_per_block, c.dropout) for _ in range(c.blocks)
            )

        self.blocks = stack()
        self.others = nn.ModuleList(stack() for _ in range(c.networks - 1))  # no weights when networks == 1
        self.register_buffer("levels", torch.tensor(LEVELS), persistent=False)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "series":
            raise GenzooError(f"model {cls.model_name!r} needs time series; {info.name!r} is {info.kind} data")
        return {"season_length": int(info.extra.get("season_length", 1))}

    def training_data(self, data: Any) -> Any:
        """`genzoo.fit(model, series or collection)` trains on random windows of every series."""
        members = getattr(data, "members", None)
        if members is None and hasattr(data, "series"):
            members = [data.series]
        return GlobalWindows(self, members, epoch_size=1024) if members is not None else data

    def windows_for(self, series: Any, epoch_size: int, seed: int = 0) -> GlobalWindows:
        """Training windows of one `Series` or a list of them (what `genzoo.apps.forecast.fit` iterates)."""
        return GlobalWindows(self, series if isinstance(series, list) else [series], epoch_size, seed)

    def min_history(self) -> int:
        return 2

    # -- the network ------------------------------------------------------------------------------------
    def network_outputs(self, x: Tensor) -> Tensor:
        """Encoded windows (B, n_in) -> each network's quantiles (networks, B, prediction_length, levels)."""
        outs = []
        for blocks in (self.blocks, *self.others):
            residual, out = x, 0.0
            for block in blocks:
                back, fore = block(residual)
                residual = residual - back
                out = out + fore
            outs.append(out.view(len(x), self.config.prediction_length, len(LEVELS)))
        return torch.stack(outs)

    def forward(self, x: Tensor) -> Tensor:
        """Encoded windows (B, n_in) -> quantiles (B, prediction_length, levels) in scale-free units (the
        networks' mean)."""
        return self.network_outputs(x).mean(0)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Mean pinball loss over the levels and the observed target steps (scale-free units); each network is
        scored on its own quantiles, so the networks stay independent forecasters."""
        q = self.network_outputs(batch["x"].float())
        err = batch["target"].float().unsqueeze(-1) - q
        pinball = torch.maximum(self.levels * err, (self.levels - 1) * err).mean(-1)
        mask = batch["target_mask"].float()
        loss = (pinball * mask).sum() / mask.sum().clamp_min(1.0) / len(q)
        return {"loss": loss, "pinball": loss.detach()}

    @torch.no_grad()
    def quantiles(self, history: Any, horizon: int, season_length: int | None = None) -> np.ndarray:
        """Forecast quantiles at LEVELS, (len(LEVELS), horizon), in data units, sorted per step."""
        c = self.config
        y = np.asarray(history, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(y)):
            raise GenzooError("the history has NaN/inf values; fill the gaps first")
        if len(y) < self.min_history():
            raise GenzooError(f"the history has {len(y)} points; this model needs at least {self.min_history()}")
        if not 1 <= horizon <= c.prediction_length:
            raise GenzooError(f"horizon {horizon} is outside 1..{c.prediction_length} (this model's prediction_length)")
        m = int(season_length or c.season_length)
        x, loc, scale = encode(y, m, c.context_length, c.prediction_length)
        self.eval()
        q = self(torch.from_numpy(x)[None].to(self.device))[0, :horizon].double().cpu().numpy()
        q = np.sort(q, axis=1).T * scale + loc
        if c.shrink:
            q = q + c.shrink * (seasonal_naive(y, m, horizon) - q[LEVELS.index(0.5)])
        return q

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def sample(
        self, n: int, history: Any = None, horizon: int | None = None, start_phase: int = 0,
        season_length: int | None = None,
    ) -> Tensor:
        """`n` sample paths (n, horizon): each path draws one probability level and follows the
        interpolated quantile function (tails extended linearly beyond the outer levels)."""
        if history is None:
            raise GenzooError("forecasting needs the series to continue: sample(n, history=values)")
        if n < 1:
            raise GenzooError(f"number of sample paths must be at least 1, got {n}")
        horizon = self.config.prediction_length if horizon is None else int(horizon)
        q = self.quantiles(history, horizon, season_length)
        u = torch.rand(n, generator=None).double().numpy()
        levels = np.asarray(LEVELS)
        paths = np.stack([np.interp(u, levels, q[:, h]) for h in range(horizon)], 1)
        for side, (a, b) in (("low", (0, 1)), ("high", (-1, -2))):
            beyond = u < levels[0] if side == "low" else u > levels[-1]
            slope = (q[a] - q[b]) / (levels[a] - levels[b])
            paths[beyond] = q[a] + np.outer(u[beyond] - levels[a], slope)
        return torch.from_numpy(paths)


class GlobalWindows(torch.utils.data.Dataset):
    """Random training windows across many series: pick a series (probability ~ sqrt of its number of
    windows, so short series are not drowned), then a cut point; the history before the cut is encoded
    and the next `prediction_length` points (as many as exist) are the target."""

    def __init__(self, model: GlobalForecaster, series: list[Any], epoch_size: int = 1024, seed: int = 0) -> None:
        c = model.config
        self.context, self.horizon, self.min_context = c.context_length, c.prediction_length, c.min_context
        self.values = [np.asarray(s.values, dtype=np.float64) for s in series]
        self.seasons = [int(getattr(s, "season_length", c.season_length)) for s in series]
        for s, v in zip(series, self.values):
            if not np.all(np.isfinite(v)):
                raise GenzooError(f"series {getattr(s, 'name', '?')!r} has NaN/inf values; fill the gaps first")
        counts = np.array([max(0, len(v) - self.min_context) for v in self.values], dtype=np.float64)
        if counts.sum() == 0:
            raise GenzooError(f"no series is longer than min_context={self.min_context}; nothing to train on")
        self.cumulative = np.cumsum(np.sqrt(counts)) / np.sqrt(counts).sum()
        self.epoch_size = epoch_size
        self.rng = np.random.default_rng(seed)
        self.info = model.data_info

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        k = min(int(np.searchsorted(self.cumulative, self.rng.random(), side="right")), len(self.values) - 1)
        v = self.values[k]
        cut = int(self.rng.integers(self.min_context, len(v)))
        x, loc, scale = encode(v[:cut], self.seasons[k], self.context, self.horizon)
        future = v[cut : cut + self.horizon]
        target = np.zeros(self.horizon, dtype=np.float32)
        target[: len(future)] = np.clip((future - loc) / scale, -CLIP, CLIP)
        mask = np.zeros(self.horizon, dtype=np.float32)
        mask[: len(future)] = 1.0
        return {"x": torch.from_numpy(x), "target": torch.from_numpy(target), "target_mask": torch.from_numpy(mask)}
