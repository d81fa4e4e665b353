"""The one attention (`genzoo.nn.attention`) against a plain softmax attention written out by hand: without
masks, causal, with padding masks, and causal after a KV cache, where the queries sit at the end."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.nn.attention import Attention, Rotary, attend, merge_heads, split_heads
from genzoo.nn.kv_cache import KVCache


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
              key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, query i at position S - T + i seeing keys <= that position."""
    t, s = q.shape[2], k.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    allowed = torch.ones(q.shape[0], 1, t, s, dtype=torch.bool)
    if causal:
        for i in range(t):
            allowed[:, :, i, s - t + i + 1 :] = False
    if key_mask is not None:
        allowed &= key_mask[:, None, None, :]
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


@pytest.mark.parametrize("t,s", [(6, 6), (1, 6), (3, 7)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attend_matches_reference_softmax_attention(t: int, s: int, causal: bool, masked: bool) -> None:
    g = torch.Generator().manual_seed(t * 10 + s)
    q = torch.randn(2, 3, t, 8, generator=g)
    k, v = torch.randn(2, 3, s, 8, generator=g), torch.randn(2, 3, s, 8, generator=g)
    key_mask = torch.ones(2, s, dtype=torch.bool)
    key_mask[1, -2:] = False  # padding at the end of row 1: every query still has a key
    mask = key_mask if masked else None
    torch.testing.assert_close(attend(q, k, v, causal=causal, key_mask=mask), reference(q, k, v, causal, mask))


def test_heads_split_and_merge_round_trip() -> None:
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4) and torch.equal(merge_heads(heads), x)


@pytest.mark.parametrize("rotary", [False, True])
def test_attention_with_kv_cache_equals_the_whole_sequence(rotary: bool) -> None:
    torch.manual_seed(0)
    att = Attention(16, 4, rotary=Rotary(4, 32) if rotary else None).eval()
    x = torch.randn(2, 9, 16)
    whole = att(x, causal=True)
    cache = KVCache(1, 32)
    parts = []
    for chunk in (x[:, :4], x[:, 4:5], x[:, 5:]):  # a prefill, one token, then several after a past
        parts.append(att(chunk, causal=True, cache=cache))
        cache.advance(chunk.shape[1])
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-5, rtol=1e-5)
    if not rotary:  # and against the reference, projections written out
        q, k, v = (split_heads(p, 4) for p in att.qkv(x).chunk(3, -1))
        torch.testing.assert_close(whole, att.proj(merge_heads(reference(q, k, v, causal=True))), atol=1e-5, rtol=1e-5)


def test_cross_attention_ignores_masked_memory() -> None:
    torch.manual_seed(0)
    att = Attention(8, 2, cross=True).eval()
    x, memory = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out = att(x, key_mask=mask, memory=memory, causal=True)  # causal is meaningless across and ignored
    changed = memory.clone()
    changed[1, 2:] = 100.0  # what row 1 may not see
    torch.testing.assert_close(att(x, key_mask=mask, memory=changed), out)
    q = split_heads(att.q(x), 2)
    k, v = (split_heads(p, 2) for p in att.kv(memory).chunk(2, -1))
    torch.testing.assert_close(out, att.proj(merge_heads(reference(q, k, v, key_mask=mask))), atol=1e-5, rtol=1e-5)


def test_kv_cache_reorder_and_overflow() -> None:
    cache = KVCache(1, 4)
    k = torch.arange(2.0)[:, None, None, None].expand(2, 1, 3, 2)
    cache.update(0, k, k)
    cache.advance(3)
    cache.reorder(torch.tensor([1, 1, 0]))
    keys, _ = cache.update(0, torch.zeros(3, 1, 1, 2), torch.zeros(3, 1, 1, 2))
    assert keys.shape == (3, 1, 4, 2) and keys[:, 0, 0, 0].tolist() == [1.0, 1.0, 0.0]
    cache.advance(1)
    with pytest.raises(ValueError, match="overflow"):
        cache.update(0, torch.zeros(3, 1, 1, 2), torch.zeros(3, 1, 1, 2))
