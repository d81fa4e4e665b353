"""Decoding state objects. The core only needs `length` and `reorder` (for beam search)."""

from __future__ import annotations

import torch
from torch import Tensor


class Cache:
    """Base class: `length` tokens have been consumed; `reorder(index)` picks/duplicates batch rows."""

    length: int = 0

    def reorder(self, index: Tensor) -> None:
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
        if self.keys[layer] is None:
            b, h, _, d = k.shape
            self.keys[layer] = k.new_empty(b, h, self.max_length, d)
            self.values[layer] = v.new_empty(b, h, self.max_length, d)
        kb, vb = self.keys[layer], self.values[layer]
        assert kb is not None and vb is not None
        kb[:, :, start:end] = k
        vb[:, :, start:end] = v
        return kb[:, :, :end], vb[:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def reorder(self, index: Tensor) -> None:
        for store in (self.keys, self.values):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = t.index_select(0, index.to(t.device))


class StateCache(Cache):
    """Hidden state of a recurrent network (a tensor or a tuple of them, batch on dimension `batch_dim`)."""

    def __init__(self, batch_dim: int = 1) -> None:
        self.state: Tensor | tuple[Tensor, ...] | None = None
        self.batch_dim = batch_dim
        self.length = 0

    def reorder(self, index: Tensor) -> None:
        if self.state is None:
            return
        if isinstance(self.state, tuple):
            self.state = tuple(s.index_select(self.batch_dim, index.to(s.device)) for s in self.state)
        else:
            self.state = self.state.index_select(self.batch_dim, index.to(self.state.device))


def expand_batch(index_size: int, repeats: int) -> Tensor:
    """Row index that repeats each of `index_size` rows `repeats` times (for beams of several prompts)."""
    return torch.arange(index_size).repeat_interleave(repeats)
