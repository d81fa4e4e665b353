"""A small causal-transformer forecaster: the DeepAR recipe with self-attention instead of an LSTM.

Everything around the sequence network is shared with `LSTMForecaster` — lagged inputs divided by a
per-window scale, calendar covariates, log(scale), the Gaussian / Student-t / negative-binomial heads,
differencing, and ancestral sample paths — so the two models differ only in how a step sees its past:
the LSTM through a recurrent state, the transformer through masked attention over every earlier step of
the window (as in the decoder of Lim et al.'s and gluonts' transformer forecasters, minus the encoder).

Positions are learned embeddings over the `context_length + prediction_length` steps a window spans;
the "state" while sampling is the inputs seen so far, re-attended at each step (a window is < 100 steps,
so the quadratic cost is smaller than any cache bookkeeping).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.errors import GenzooError
from genzoo.models.rnn.lstm_forecaster import LSTMForecaster, LSTMForecasterConfig
from genzoo.registry import register_model


@dataclass
class TransformerForecasterConfig(LSTMForecasterConfig):
    hidden: int = 32  # model width
    layers: int = 2
    heads: int = 4
    feedforward: int = 64


@register_model(
    "transformer_forecaster",
    "transformers",
    ("sample", "log_prob"),
    "small causal-transformer probabilistic forecaster (DeepAR heads): sample paths, quantiles, intervals",
)
class TransformerForecaster(LSTMForecaster):
    """Masked self-attention over scaled lagged values, with the forecaster's likelihood heads."""

    Config = TransformerForecasterConfig
    default_lr = 1e-3

    def build_core(self, n_in: int) -> None:
        c = self.config
        if c.hidden % c.heads:
            raise GenzooError(f"hidden={c.hidden} must be a multiple of heads={c.heads}")
        self.embed = nn.Linear(n_in, c.hidden)
        self.position = nn.Parameter(torch.zeros(c.context_length + c.prediction_length, c.hidden))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            c.hidden, c.heads, c.feedforward, c.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.hidden)

    def core(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Outputs for the new steps `x` (B, T, F) given the earlier inputs `state` (B, T0, F) or None."""
        seen = x if state is None else torch.cat([state, x], 1)
        steps = seen.shape[1]
        if steps > len(self.position):
            raise GenzooError(f"a window of {steps} steps exceeds the {len(self.position)} this model knows")
        mask = nn.Transformer.generate_square_subsequent_mask(steps, device=x.device)
        h = self.encoder(self.embed(seen) + self.position[:steps], mask=mask, is_causal=True)
        return self.norm(h[:, -x.shape[1] :]), seen

    def repeat_state(self, state: Any, n: int) -> Any:
        return state.repeat(n, 1, 1)
