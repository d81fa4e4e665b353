"""The one attention: every attention layer in genzoo (transformer blocks, U-Net pixels and captions,
video frames, the forecaster's time steps) computes its heads through `attend`, which calls PyTorch's
`F.scaled_dot_product_attention` (flash / memory-efficient kernels where the device has them).

Layers keep their own projections, under the parameter names their saved runs use, and hand `attend` the
(B, H, T, D) queries and (B, H, S, D) keys/values. With a KV cache the causal mask must be offset by the
cached length, so `attend` handles three cases explicitly: no past (`is_causal`), one new query (no mask:
it may see every key), several new queries after a past (a lower-triangular mask shifted by S - T).

One case is not plain SDPA: under bf16 autocast on a CPU, SDPA's bf16 kernel (forward + backward) ran 3-4x
slower than its fp32 kernel for the short sequences and small heads of genzoo's models (measured on a CPU with
avx512_bf16, 1 thread: B32 H4 T64 D32 causal 16 ms vs 4.5 ms) and no faster at T256 D64; it was half of a
bf16 GPT training step. So on a CPU, bf16 attention over up to `FP32_UP_TO` keys is computed in fp32 and
cast back: the same maths at fp32 accuracy and speed.

`Attention` is the multi-head self/cross-attention module of the transformer family (gpt, bert, seq2seq,
dalle, the text encoders), with rotary positions and the KV cache; `Rotary` is its position embedding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.nn.kv_cache import KVCache
from genzoo.nn.linear import Linear

#: longest key sequence for which bf16 CPU attention is computed in fp32 (beyond it the kernels are level)
FP32_UP_TO = 128


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, T, H * D) -> (B, H, T, D), a view whose last dimension stays contiguous (SDPA's fused kernels)."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, D) -> (B, T, H * D)."""
    b, _, t, _ = x.shape
    return x.transpose(1, 2).reshape(b, t, -1)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    key_mask: Tensor | None = None,
    dropout: float = 0.0,
) -> Tensor:
    """softmax(q k^T / sqrt(D)) v over heads: q (B, H, T, D), k and v (B, H, S, D) -> (B, H, T, D).

    causal: query i sits at position S - T + i and sees keys up to there (the last T keys are the queries'
    own; the first S - T are a cache). key_mask (B, S): True where a key may be attended to (padding is
    False); a row with no key left attends to nothing and comes back as NaN, as softmax over nothing would.
    """
    t, s = q.shape[2], k.shape[2]
    mask = None
    is_causal = False
    if causal and t > 1:
        if t == s and key_mask is None:
            is_causal = True
        else:
            mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(s - t)
    if key_mask is not None:
        km = key_mask[:, None, None, :].bool()
        mask = km if mask is None else (mask & km)
    if q.dtype == torch.bfloat16 and q.device.type == "cpu" and s <= FP32_UP_TO:
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask,
                                                 is_causal=is_causal, dropout_p=dropout)
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=dropout)


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
    """Multi-head attention. Self-attention when `memory` is None, else cross-attention onto `memory`.

    Parameters: `qkv` (self) or `q` and `kv` (cross), then `proj` — the names saved runs hold.
    """

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
            self.q = Linear(d_model, d_model, bias=bias)
            self.kv = Linear(d_model, 2 * d_model, bias=bias)
        else:
            self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.proj = Linear(d_model, d_model, bias=bias)

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
        """x (B, T, D); key_mask (B, S) True where a key may be attended to (padding is False).

        With `cache`, this layer's keys/values are appended to slot `layer` and the queries attend to all of
        them (the model calls `cache.advance(T)` after its last layer).
        """
        h = self.n_head
        if self.cross:
            if memory is None:
                raise ValueError("cross-attention needs the memory to attend to")
            q = split_heads(self.q(x), h)
            k, v = (split_heads(t, h) for t in self.kv(memory).chunk(2, dim=-1))
            causal = False
        else:
            q, k, v = (split_heads(t, h) for t in self.qkv(x).chunk(3, dim=-1))
            past = cache.length if cache is not None else 0
            if self.rotary is not None:
                q, k = self.rotary(q, past), self.rotary(k, past)
            if cache is not None:
                k, v = cache.update(layer, k, v)
        y = attend(q, k, v, causal=causal, key_mask=key_mask, dropout=self.dropout if self.training else 0.0)
        return self.proj(merge_heads(y))
