"""A small causal-transformer forecaster: the DeepAR recipe with self-attention instead of an LSTM.

Everything around the sequence network is shared with `LSTMForecaster` — lagged inputs divided by a
per-window scale, calendar covariates, log(scale), the Gaussian / Student-t / negative-binomial heads,
differencing, and ancestral sample paths — so the two models differ only in how a step sees its past:
the LSTM through a recurrent state, the transformer through masked attention over every earlier step of
the window (as in the decoder of Lim et al.'s and gluonts' transformer forecasters, minus the encoder).

Positions are learned embeddings over the `context_length + prediction_length` steps a window spans.
While sampling, the blocks keep their keys and values in the shared KV cache (`genzoo.nn.kv_cache`), so a new
step costs one token's work rather than re-attending the whole window (recomputing it made sampling ~70x
slower than the LSTM's); attention is the shared one (`genzoo.nn.attention`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genzoo.base import Recipe
from genzoo.errors import GenzooError
from genzoo.models.rnn.lstm_forecaster import LSTMForecaster, LSTMForecasterConfig
from genzoo.nn.attention import attend, merge_heads, split_heads
from genzoo.nn.kv_cache import KVCache
from genzoo.registry import register_model


class CausalBlock(nn.Module):
    """Pre-norm transformer block with causal self-attention whose keys/values can be cached."""

    def __init__(self, width: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.ff = nn.Sequential(
            nn.Linear(width, feedforward), nn.GELU(), nn.Dropout(dropout), nn.Linear(feedforward, width)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """x (B, t, D): the newest t steps, after the `cache.length` steps whose keys/values are cached."""
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        if cache is not None:
            k, v = cache.update(layer, k, v)
        a = attend(q, k, v, causal=True, dropout=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(merge_heads(a)))
        return x + self.drop(self.ff(self.norm2(x)))


@dataclass
class TransformerForecasterConfig(LSTMForecasterConfig):
    hidden: int = 32  # model width
    layers: int = 2
    heads: int = 4
    feedforward: int = 64


@register_model(
    "transformer_forecaster",
    "small causal-transformer probabilistic forecaster (DeepAR heads): sample paths, quantiles, intervals",
)
class TransformerForecaster(LSTMForecaster):
    """Masked self-attention over scaled lagged values, with the forecaster's likelihood heads."""

    quick = Recipe(
        "co2",
        {
            **{
                "context_length": 24,
                "prediction_length": 6,
                "hidden": 16,
                "layers": 1,
                "lags": [1, 2, 3],
                "calendar": False,
            },
            "heads": 2,
            "feedforward": 32,
        },
    )

    Config = TransformerForecasterConfig
    default_lr = 1e-3

    def build_core(self, n_in: int) -> None:
        c = self.config
        if c.hidden % c.heads:
            raise GenzooError(f"hidden={c.hidden} must be a multiple of heads={c.heads}")
        self.embed = nn.Linear(n_in, c.hidden)
        self.position = nn.Parameter(torch.zeros(c.context_length + c.prediction_length, c.hidden))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(
            CausalBlock(c.hidden, c.heads, c.feedforward, c.dropout) for _ in range(c.layers)
        )
        self.norm = nn.LayerNorm(c.hidden)

    def core(self, x: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """Outputs for the new steps `x` (B, T, F) after the steps cached in `state` (a `KVCache`, extended in
        place and returned; None starts one)."""
        c = self.config
        if state is None:
            state = KVCache(c.layers, len(self.position))
        start = state.length
        if start + x.shape[1] > len(self.position):
            raise GenzooError(
                f"a window of {start + x.shape[1]} steps exceeds the {len(self.position)} this model knows"
            )
        h = self.embed(x) + self.position[start : start + x.shape[1]]
        for i, block in enumerate(self.blocks):
            h = block(h, state, i)
        state.advance(x.shape[1])
        return self.norm(h), state

    def repeat_state(self, state: KVCache, n: int) -> KVCache:
        """The cache of one conditioning run (B rows), tiled for `n` sample paths (n * B rows)."""
        rows = next(t for t in state.keys if t is not None).shape[0]
        state.reorder(torch.arange(rows).repeat(n))
        return state
