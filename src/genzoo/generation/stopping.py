"""Stopping criteria: objects `(seq (B, T), scores (B, V)) -> done (B,) bool`, ORed by `StoppingCriteriaList`.

HF transformers' shape: `seq` already holds the token just chosen, `scores` are the processed scores it
was drawn from. A row that is done stays done; the core fills it with the pad token from then on, and
stops once every row is done, which is the one host synchronisation per step that stopping needs (none
when the list is empty). `EosToken` and `MaxLength` stay on the device; `StopStrings` decodes text and so
reads the tokens back, but only when stop strings were asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from genzoo.errors import GenzooError


class StoppingCriteria:
    """Base class: `__call__(seq, scores)` says which rows are done."""

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        raise NotImplementedError


class StoppingCriteriaList(list):
    """A row is done when any criterion says so; an empty list never stops (the length limit does)."""

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        done = torch.zeros(seq.shape[0], dtype=torch.bool, device=seq.device)
        for criterion in self:
            done |= criterion(seq, scores)
        return done


class MaxLength(StoppingCriteria):
    """Done once the whole sequence, prompt included, holds `max_length` tokens."""

    def __init__(self, max_length: int) -> None:
        if max_length < 1:
            raise GenzooError(f"max_length must be >= 1, got {max_length}")
        self.max_length = max_length

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return torch.full((seq.shape[0],), seq.shape[1] >= self.max_length, dtype=torch.bool, device=seq.device)


class EosToken(StoppingCriteria):
    """Done when the last token is one of `eos_token_ids`."""

    def __init__(self, eos_token_ids: int | Iterable[int]) -> None:
        ids = [eos_token_ids] if isinstance(eos_token_ids, int) else list(eos_token_ids)
        self.ids = torch.tensor(ids, dtype=torch.long)

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        if self.ids.device != seq.device:
            self.ids = self.ids.to(seq.device)
        return torch.isin(seq[:, -1], self.ids)


class StopWhen(StoppingCriteria):
    """A custom predicate on the sequences so far, (B, T) -> (B,) bool: e.g. "8 bars written"."""

    def __init__(self, predicate: Callable[[Tensor], Tensor]) -> None:
        self.predicate = predicate

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return self.predicate(seq).to(device=seq.device, dtype=torch.bool)


class StopStrings(StoppingCriteria):
    """Done once the text generated after the first `prompt_length` tokens contains one of `strings`."""

    def __init__(self, strings: Iterable[str], decode: Callable[[list[int]], str], prompt_length: int) -> None:
        self.strings = tuple(strings)
        self.decode = decode
        self.prompt_length = prompt_length

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        rows = seq[:, self.prompt_length :].tolist()
        done = [any(s in self.decode(row) for s in self.strings) for row in rows]
        return torch.tensor(done, dtype=torch.bool, device=seq.device)
