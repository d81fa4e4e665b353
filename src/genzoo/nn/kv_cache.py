"""The one key/value cache for every attention that decodes step by step (gpt, seq2seq, dalle, music_gpt,
transformer_forecaster), and the small `Cache` interface the decoding core needs from any model state.

The core asks a cache only for `length` (tokens consumed), `start` (where in the whole sequence its first
token sits: 0, or later once decoding has slid past a model's context) and `reorder(index)` (pick or
duplicate batch rows: beam search, or one conditioning run shared by several sample paths).
"""

from __future__ import annotations

from torch import Tensor


class Cache:
    """Base class: `length` tokens have been consumed, the first at position `start` of the sequence."""

    length: int = 0
    start: int = 0

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows `index` (a 1-D long tensor; rows may repeat)."""
        raise NotImplementedError


class KVCache(Cache):
    """Keys and values of every attention layer, preallocated to `max_length` so a step never copies the past.

    Layer `i` calls `update(i, k, v)` with this step's (B, H, T, D) keys/values and gets back all keys/values
    so far; after the last layer the model calls `advance(T)`.
    """

    def __init__(self, n_layers: int, max_length: int) -> None:
        self.max_length = max_length
        self.keys: list[Tensor | None] = [None] * n_layers
        self.values: list[Tensor | None] = [None] * n_layers
        self.length = 0

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_length:
            raise ValueError(f"KV cache overflow: {end} > {self.max_length} (the decoder should have slid)")
        kb, vb = self.keys[layer], self.values[layer]
        if kb is None or vb is None:
            b, h, _, d = k.shape
            kb = self.keys[layer] = k.new_empty(b, h, self.max_length, d)
            vb = self.values[layer] = v.new_empty(b, h, self.max_length, d)
        kb[:, :, start:end] = k
        vb[:, :, start:end] = v
        return kb[:, :, :end], vb[:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def truncate(self, length: int) -> None:
        """Forget every token after the first `length` (a rejected draft); the buffers stay allocated."""
        self.length = min(self.length, length)

    def reorder(self, index: Tensor) -> None:
        for store in (self.keys, self.values):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = t.index_select(0, index.to(t.device))
