"""An LSTM over piano-roll frames: the next 88-key frame as independent Bernoullis given the past.

This is the "LSTM" row of the JSB Chorales tables (e.g. Bai et al. 2018's TCN paper), so its loss is the NLL
per frame in nats summed over keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.data.music import compose_from_rolls
from genzoo.errors import GenzooError
from genzoo.protocols import Composer, Likelihood, Sampler
from genzoo.registry import register_model


@dataclass
class PianoRollLSTMConfig:
    keys: int = 88
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1


@register_model("pianoroll_lstm", "LSTM over piano-roll frames: independent Bernoulli keys per frame (NLL per frame)")
class PianoRollLSTM(GenerativeModel, Sampler, Likelihood, Composer):
    """p(frame_t | frames_<t) = prod_k Bernoulli(key_k); batch = (rolls (B, T+1, K), mask (B, T+1))."""

    quick = Recipe("chorales_roll", {"hidden": 16, "layers": 1}, {"limit": 4, "seq_len": 32})

    Config = PianoRollLSTMConfig
    default_lr = 2e-3
    #: keep a weight EMA (`fit` samples from it): the key balance of a last iterate's compositions swings
    #: from one checkpoint to the next. On the val pieces the pitch-class KL of 64 samples ranged over 0.02-0.19
    #: nats at checkpoints 5 s apart (as much with batches of 64 windows as of 16: the free-running sampler's
    #: sensitivity to the weights, more than the keys of the last batches); the EMA's over 0.01-0.05.
    #: Palestrina, 2 seeds: 0.049 -> 0.011 on val, 0.050 -> 0.020 on test (benchmarks/results/music_corpus*.json),
    #: for 0.04-0.19 nats/frame more NLL at 45 s, while the loss still falls fast
    default_ema = 0.99
    default_precision = "32-true"

    def __init__(self, config: PianoRollLSTMConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        self.rnn = nn.LSTM(
            c.keys, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.keys)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.extra.get("representation") != "pianoroll" or info.shape is None:
            raise GenzooError(
                f"model {cls.model_name!r} needs piano-rolls (dataset 'chorales_roll'); got {info.name!r}"
            )
        return {"keys": int(info.shape[0])}

    def frame_nll(self, rolls: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """NLL (nats, summed over keys) of frames 1..T given their past, and the mask of real frames.

        Frame 0 of each window is only context (it is predicted from nothing in a window that starts
        mid-piece), so windows overlap by one frame and no frame is scored twice from a blank state."""
        rolls = rolls.float().to(self.device)
        h, _ = self.rnn(rolls[:, :-1])
        logits = self.out(self.drop(h))
        nll = F.binary_cross_entropy_with_logits(logits, rolls[:, 1:], reduction="none").sum(-1)
        return nll, mask[:, 1:].float().to(self.device)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        nll, mask = self.frame_nll(*batch)
        per_frame = (nll * mask).sum() / mask.sum().clamp_min(1)
        return {"loss": per_frame, "nll_per_frame": per_frame.detach()}

    @torch.no_grad()
    def log_prob(self, x: Tensor, mask: Tensor | None = None, **condition: Any) -> Tensor:
        """Summed log-likelihood (nats) of each roll's frames after the first."""
        mask = torch.ones(x.shape[:2]) if mask is None else mask
        nll, m = self.frame_nll(x, mask)
        return -(nll * m).sum(1)

    def compose(self, n: int, bars: int, prime: Any = None, temperature: float = 1.0) -> list[Any]:
        """`n` pieces of `bars` bars (note arrays), continuing `prime` notes if given."""
        return compose_from_rolls(self.sample, n, bars, prime, temperature, self.data_info)

    @torch.no_grad()
    def sample(
        self, n: int, frames: int = 128, prime: Tensor | None = None, temperature: float = 1.0
    ) -> Tensor:
        """`n` piano-rolls (n, frames, keys) of 0/1, continuing `prime` (T0, keys) or an empty frame."""
        if n < 1 or frames < 1:
            raise GenzooError("sample needs n >= 1 and frames >= 1")
        self.eval()
        keys = self.config.keys
        first = torch.zeros(n, 1, keys, device=self.device)
        if prime is not None:
            first = (
                torch.as_tensor(prime, dtype=torch.float32, device=self.device)
                .reshape(1, -1, keys)
                .expand(n, -1, -1)
            )
        h, state = self.rnn(first)
        logits = self.out(h[:, -1:])
        out = []
        for _ in range(frames):
            frame = torch.bernoulli(torch.sigmoid(logits / temperature))
            out.append(frame)
            h, state = self.rnn(frame, state)
            logits = self.out(h)
        return torch.cat(out, 1)
