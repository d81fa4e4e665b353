"""GPT: a decoder-only transformer language model (Radford et al. 2018/2019), nanoGPT-sized and readable.

Pre-norm blocks, rotary or learned positions (learned + biases + the tanh GELU is exactly GPT-2: see
`genzoo.interop.hf_gpt2`), tied input/output embeddings, attention on
`F.scaled_dot_product_attention`, a preallocated KV cache for generation. Everything about decoding
(sampling, beams, streaming, sliding past the context) lives in `genzoo.generation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import N_SPECIAL
from genzoo.errors import GenzooError
from genzoo.generation.lm import CausalLM
from genzoo.models.transformers.layers import ACTIVATIONS, Block, Rotary, init_weights
from genzoo.nn.flops import transformer_flops_per_token
from genzoo.nn.kv_cache import KVCache
from genzoo.protocols import TokenModel
from genzoo.registry import register_model


@dataclass
class GPTConfig:
    vocab_size: int = N_SPECIAL + 256
    context_length: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.0
    positions: str = "rope"  # rope | learned
    tie_weights: bool = True
    bias: bool = False
    activation: str = "gelu"  # gelu | gelu_tanh (GPT-2's; what a converted GPT-2 checkpoint needs)
    tokenizer: str = ""  # the tokenizer's JSON (set from the dataset); "" = bytes


class DecoderLM(CausalLM):
    """The GPT network over any token vocabulary; `GPT` (text) and `MusicGPT` (events) build on it."""

    Config = GPTConfig
    default_lr = 1e-3

    def __init__(self, config: GPTConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.positions not in ("rope", "learned"):
            raise GenzooError(f"positions must be rope or learned, got {config.positions!r}")
        if config.activation not in ACTIVATIONS:
            raise GenzooError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {config.activation!r}")
        if config.d_model % config.n_head or (config.d_model // config.n_head) % 2:
            raise GenzooError(f"d_model {config.d_model} must split into {config.n_head} heads of even size")
        self.context_length = config.context_length
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = (
            nn.Embedding(config.context_length, config.d_model) if config.positions == "learned" else None
        )
        rotary = (
            Rotary(config.d_model // config.n_head, config.context_length)
            if config.positions == "rope"
            else None
        )
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_head, config.dropout, config.bias, rotary, activation=config.activation)
            for _ in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        init_weights(self, config.n_layer)
        if config.tie_weights:
            self.head.weight = self.tok_emb.weight

    def embed(self, ids: Tensor, offset: int = 0) -> Tensor:
        if ids.shape[1] + offset > self.context_length:
            raise GenzooError(
                f"{ids.shape[1] + offset} tokens exceed the context length {self.context_length}"
            )
        x = self.tok_emb(ids)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(offset, offset + ids.shape[1], device=ids.device))
        return self.drop(x)

    def trunk(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        """Embedded tokens (B, T, D) -> logits (B, T, V), attending causally to the cache and each other."""
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=cache, layer=i)
        if cache is not None:
            cache.advance(x.shape[1])
        return self.head(self.ln_f(x))

    def forward_tokens(self, ids: Tensor, cache: KVCache | None = None) -> Tensor:
        return self.trunk(self.embed(ids.to(self.device), cache.length if cache is not None else 0), cache)

    def new_cache(self, batch_size: int) -> KVCache:
        return KVCache(self.config.n_layer, self.context_length)

    def flops_per_token(self) -> float:
        c = self.config
        n = sum(p.numel() for p in self.parameters()) - (
            self.pos_emb.weight.numel() if self.pos_emb is not None else 0
        )
        return transformer_flops_per_token(n, c.n_layer, c.d_model, c.context_length)


@register_model("gpt", "decoder-only transformer LM: RoPE, tied embeddings, KV cache, one generation core")
class GPT(DecoderLM, TokenModel):
    """GPT language model over the tokens of its text tokenizer."""

    quick = Recipe("pydoc", {"context_length": 32, "n_layer": 1, "d_model": 32, "n_head": 2}, {"block_size": 32})
