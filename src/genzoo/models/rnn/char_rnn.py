"""char-rnn: an LSTM/GRU language model (Karpathy 2015; pytorch/examples word_language_model).

It shares the tokenizer, the loss and the whole decoding core with `gpt`; its cache is the recurrent
state, so it has no context limit. Training windows are split into `bptt`-step chunks whose state is carried
forward but detached: truncated backpropagation through time, so gradients span at most `bptt` steps
while the state sees the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import N_SPECIAL
from genzoo.errors import GenzooError
from genzoo.generation.cache import StateCache
from genzoo.generation.lm import CausalLM
from genzoo.protocols import TokenModel
from genzoo.registry import register_model


@dataclass
class CharRNNConfig:
    vocab_size: int = N_SPECIAL + 256
    cell: str = "lstm"  # lstm | gru
    d_embed: int = 128
    hidden: int = 256
    n_layer: int = 2
    dropout: float = 0.0
    bptt: int = 64
    tokenizer: str = ""


@register_model("char_rnn", "LSTM/GRU language model, truncated BPTT; same tokenizer and generation core as gpt")
class CharRNN(CausalLM, TokenModel):
    """Recurrent language model over tokens (characters by default)."""

    quick = Recipe("pydoc", {"hidden": 32, "n_layer": 1}, {"block_size": 32})

    Config = CharRNNConfig
    default_lr = 2e-3
    context_length = None

    def __init__(self, config: CharRNNConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if config.cell not in cells:
            raise GenzooError(f"cell must be lstm or gru, got {config.cell!r}")
        if config.bptt < 1:
            raise GenzooError(f"bptt must be at least 1, got {config.bptt}")
        self.emb = nn.Embedding(config.vocab_size, config.d_embed)
        self.rnn = cells[config.cell](
            config.d_embed,
            config.hidden,
            config.n_layer,
            batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward_tokens(self, ids: Tensor, cache: StateCache | None = None) -> Tensor:
        out, state = self.rnn(
            self.drop(self.emb(ids.to(self.device))), cache.state if cache is not None else None
        )
        if cache is not None:
            cache.state = state
            cache.length += ids.shape[1]
        return self.head(self.drop(out))

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=1)

    def train_logits(self, x: Tensor) -> Tensor:
        cache = StateCache(batch_dim=1)
        chunks = []
        for start in range(0, x.shape[1], self.config.bptt):
            chunks.append(self.forward_tokens(x[:, start : start + self.config.bptt], cache))
            s = cache.state
            cache.state = tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach()  # type: ignore[union-attr]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, 1)
