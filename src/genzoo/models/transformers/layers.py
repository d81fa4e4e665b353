"""Transformer building blocks shared by gpt, bert and seq2seq: RoPE, attention on SDPA, pre-norm blocks.

Attention always goes through `F.scaled_dot_product_attention` (flash / memory-efficient kernels where the
device has them). With a KV cache, the causal mask must be offset by the cached length, so the
three cases are handled explicitly: no past (is_causal), one new token (no mask needed), several new
tokens after a past (an explicit lower-triangular mask shifted by the past length).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.generation.cache import KVCache


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021), GPT-NeoX's half-split layout; tables up to `max_len`."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: Tensor, offset: int) -> Tensor:
        t = x.shape[-2]
        cos = self.cos[offset : offset + t].to(x.dtype)
        sin = self.sin[offset : offset + t].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    """Multi-head attention. Self-attention when `memory` is None, else cross-attention onto `memory`."""

    def __init__(
        self,
        d_model: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = False,
        rotary: Rotary | None = None,
        cross: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model {d_model} is not divisible by n_head {n_head}")
        self.n_head = n_head
        self.cross = cross
        self.rotary = rotary
        self.dropout = dropout
        if cross:
            self.q = nn.Linear(d_model, d_model, bias=bias)
            self.kv = nn.Linear(d_model, 2 * d_model, bias=bias)
        else:
            self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        key_mask: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        memory: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, D); key_mask (B, S) True where a key may be attended to (padding is False)."""
        if self.cross:
            assert memory is not None
            q = self._heads(self.q(x))
            k, v = (self._heads(t) for t in self.kv(memory).chunk(2, dim=-1))
        else:
            q, k, v = (self._heads(t) for t in self.qkv(x).chunk(3, dim=-1))
            past = cache.length if cache is not None else 0
            if self.rotary is not None:
                q, k = self.rotary(q, past), self.rotary(k, past)
            if cache is not None:
                k, v = cache.update(layer, k, v)
        t, s = q.shape[2], k.shape[2]
        mask = None
        is_causal = False
        if causal and not self.cross and t > 1:
            if t == s and key_mask is None:
                is_causal = True
            else:
                mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(s - t)
        if key_mask is not None:
            km = key_mask[:, None, None, :].bool()
            mask = km if mask is None else (mask & km)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(x.shape))


class MLP(nn.Module):
    def __init__(self, d_model: int, ratio: int = 4, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, ratio * d_model, bias=bias)
        self.down = nn.Linear(ratio * d_model, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)) [+ cross(ln(x), memory)] + mlp(ln(x))."""

    def __init__(
        self,
        d_model: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = False,
        rotary: Rotary | None = None,
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = Attention(d_model, n_head, dropout, bias, rotary)
        self.ln_cross = nn.LayerNorm(d_model, bias=bias) if cross else None
        self.cross = Attention(d_model, n_head, dropout, bias, cross=True) if cross else None
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, 4, dropout, bias)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        key_mask: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), causal=causal, key_mask=key_mask, cache=cache, layer=layer))
        if self.cross is not None and self.ln_cross is not None:
            x = x + self.drop(self.cross(self.ln_cross(x), key_mask=memory_mask, memory=memory))
        return x + self.mlp(self.ln2(x))


def init_weights(module: nn.Module, n_layer: int) -> None:
    """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            std = 0.02 / (2 * n_layer) ** 0.5 if name.endswith(("proj.weight", "down.weight")) else 0.02
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
