"""Classifier-free guidance for any token model: run each row twice, conditioned and not, in one batch.

`Guided(model, unconditional)` is itself a token model. Its cache holds 2B rows of `model`'s cache; each
call feeds the given (conditional) rows and their unconditional twins, which read the same tokens except
that the prompt is replaced by `unconditional` (e.g. the same image-token prefix behind the empty caption),
and returns logits (2B, T, V), conditional rows first. `ClassifierFreeGuidance` (a logits processor, first
in the list) mixes each pair back into one row. After decoding has slid past the context, the twin of a
window that still overlaps the prompt takes the matching part of the unconditional prompt.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.nn.kv_cache import Cache


class GuidedCache(Cache):
    """Wraps the inner model's cache of 2B rows; `reorder` picks the same rows from both halves."""

    def __init__(self, inner: Any, rows: int) -> None:
        self.inner = inner
        self.rows = rows

    @property
    def length(self) -> int:  # type: ignore[override]
        return int(self.inner.length)

    def reorder(self, index: Tensor) -> None:
        index = index.to(torch.long)
        self.inner.reorder(torch.cat([index, index + self.rows]))
        self.rows = len(index)


class Guided:
    """The token-model view of `model` under classifier-free guidance (see the module docstring)."""

    def __init__(self, model: Any, unconditional: Tensor) -> None:
        self.model = model
        self.unconditional = torch.as_tensor(unconditional, dtype=torch.long)
        self.context_length = getattr(model, "context_length", None)
        self.vocab_size = getattr(model, "vocab_size", None)
        self.device = model.device

    def check(self, prompt: Tensor) -> None:
        if self.unconditional.shape != prompt.shape:
            raise GenzooError(
                f"the unconditional prompt has shape {tuple(self.unconditional.shape)}; guidance needs one "
                f"of the prompt's shape {tuple(prompt.shape)}"
            )

    def new_cache(self, batch_size: int) -> GuidedCache:
        return GuidedCache(self.model.new_cache(2 * batch_size), batch_size)

    def forward_tokens(self, ids: Tensor, cache: GuidedCache) -> Tensor:
        twin = ids
        prompt_length = self.unconditional.shape[1]
        if cache.length == 0 and cache.start < prompt_length:  # a (re)fill that still covers the prompt
            n = min(prompt_length - cache.start, ids.shape[1])
            twin = ids.clone()
            twin[:, :n] = self.unconditional[:, cache.start : cache.start + n].to(ids.device)
        return self.model.forward_tokens(torch.cat([ids, twin]), cache.inner)
