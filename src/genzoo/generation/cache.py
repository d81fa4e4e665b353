"""Decoding state. The core needs only `length`, `start` and `reorder` (see `genzoo.nn.kv_cache.Cache`).

Transformers keep keys and values in the one `KVCache` (in `genzoo.nn`, beside the attention that fills
it); recurrent and convolutional models (LSTM, GRU, WaveNet, the VQ-VAE prior) keep their state in a
`StateCache`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from genzoo.nn.kv_cache import Cache, KVCache

__all__ = ["Cache", "KVCache", "StateCache"]


class StateCache(Cache):
    """A model's running state: a tensor or a (nested) tuple/list of tensors, batch on dimension `batch_dim`.

    An LSTM stores (h, c) with the batch on dimension 1; WaveNet a list of per-layer input tails and the
    VQ-VAE prior its tokens so far, both with the batch first.
    """

    def __init__(self, batch_dim: int = 1) -> None:
        self.state: Any = None
        self.batch_dim = batch_dim
        self.length = 0

    def reorder(self, index: Tensor) -> None:
        self.state = _select(self.state, index, self.batch_dim)


def _select(state: Any, index: Tensor, dim: int) -> Any:
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(dim, index.to(state.device))
    return type(state)(_select(s, index, dim) for s in state)
