"""An LSTM over note-on / note-off / time-shift music events (Oore et al. 2018, Performance RNN).

A token language model: cross-entropy per event; sampling runs through the shared decoding core
(`genzoo.generation`), the LSTM state travelling in its cache, with temperature, top-k, PAD/BOS
suppressed, an optional event grammar and a time budget (`genzoo.generation.music`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.data.music import BOS, EOS, PAD, VOCAB_SIZE, compose_from_events
from genzoo.errors import GenzooError
from genzoo.generation import GenerationConfig, StateCache, generate
from genzoo.generation.music import event_processors
from genzoo.protocols import Composer, Likelihood, Sampler
from genzoo.registry import register_model


@dataclass
class MusicLSTMConfig:
    vocab_size: int = VOCAB_SIZE
    embed: int = 128
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1


@register_model("music_lstm", "LSTM over note-on/off/time-shift music events")
class MusicLSTM(GenerativeModel, Sampler, Likelihood, Composer):
    """Event-token LSTM language model; `sample(n, steps=...)` returns token sequences starting with BOS."""

    quick = Recipe("chorales", {"embed": 16, "hidden": 32, "layers": 1}, {"limit": 4, "seq_len": 48})

    Config = MusicLSTMConfig
    default_lr = 2e-3
    #: keep a weight EMA (`fit` samples from it): the key balance of a last iterate's compositions swings
    #: from one checkpoint to the next. On the chorales' val pieces the pitch-class KL of 64 samples ranged
    #: over 0.01-0.06 nats at checkpoints 5 s apart, the EMA's over 0.02-0.04; the EMA's NLL is lower at 45 s
    #: on both corpora and splits (benchmarks/results/music_corpus*.json, the "last iterate" rows)
    default_ema = 0.99
    default_precision = "32-true"

    def __init__(self, config: MusicLSTMConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed)
        self.rnn = nn.LSTM(
            c.embed, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.vocab_size)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.extra.get("representation") != "events":
            raise GenzooError(
                f"model {cls.model_name!r} needs event tokens (dataset 'chorales'); got {info.name!r}"
            )
        return {"vocab_size": int(info.extra["vocab_size"])}

    def logits(self, tokens: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        h, state = self.rnn(self.embed(tokens), state)
        return self.out(self.drop(h)), state

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        tokens = batch.long()
        logits, _ = self.logits(tokens[:, :-1])
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=PAD
        )
        return {"loss": nll, "nll_per_event": nll.detach()}

    @torch.no_grad()
    def log_prob(self, x: Tensor, **condition: Any) -> Tensor:
        """Summed log-likelihood (nats) of each sequence's non-PAD tokens after the first."""
        tokens = x.long().to(self.device)
        logits, _ = self.logits(tokens[:, :-1])
        lp = -F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], ignore_index=PAD, reduction="none")
        return lp.sum(1)

    # -- token model (the decoding core's view) ------------------------------------------------------------
    context_length = None

    @property
    def vocab_size(self) -> int:
        return int(self.config.vocab_size)

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=1)

    def forward_tokens(self, ids: Tensor, cache: StateCache | None = None) -> Tensor:
        logits, state = self.logits(ids.to(self.device), cache.state if cache is not None else None)
        if cache is not None:
            cache.state, cache.length = state, cache.length + ids.shape[1]
        return logits
    def compose(self, n: int, bars: int, prime: Any = None, temperature: float = 1.0) -> list[Any]:
        """`n` pieces of `bars` bars (note arrays), continuing `prime` notes if given."""
        return compose_from_events(self.sample, n, bars, prime, temperature, self.data_info)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int = 512,
        prime: Tensor | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        max_time: int | None = None,
        grammar: bool = False,
        fill: bool = False,
    ) -> Tensor:
        """`n` token sequences (n, <= 1 + len(prime) + steps), PAD after EOS.

        max_time: stop each sequence once its time-shifts reach this many 16th-note steps (e.g. bars * 16).
        grammar: allow only well-formed events (`genzoo.generation.music.EventGrammar`).
        fill: no EOS before `max_time` (the piece runs to its budget).
        """
        if n < 1 or steps < 1:
            raise GenzooError("sample needs n >= 1 and steps >= 1")
        self.eval()
        start = torch.full((n, 1), BOS, dtype=torch.long)
        if prime is not None:
            prime = torch.as_tensor(prime, dtype=torch.long).reshape(1, -1).expand(n, -1)
            start = torch.cat([start, prime[:, 1:] if prime[0, 0] == BOS else prime], 1)
        config = GenerationConfig(max_new_tokens=steps, eos_token_id=EOS, pad_token_id=PAD)
        processors = event_processors(temperature, top_k, 1.0, grammar, max_time, start.shape[1], fill)
        return generate(self, start, config, processors=processors)
