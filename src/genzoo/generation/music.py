"""Logits processors for note-on / note-off / time-shift event tokens (`genzoo.data.music`): a time budget
and an event grammar, so both event models (music_lstm, music_gpt) decode through the one core.

`TimeBudget(max_time, start)` ends a piece once its time-shifts would reach `max_time` 16th-note steps:
every time-shift that would cross the budget is folded into EOS (its probability moves there). Run last,
after temperature and the top-k / top-p filters, it gives exactly the distribution of "sample, and write
EOS instead of a shift that crosses the budget". With `fill=True` the model's own EOS is ruled out, so the
piece runs to the budget: what `compose --bars N` needs (a model trained on whole pieces otherwise ends
some after two bars).

`EventGrammar()` allows only well-formed events: NOTE_ON for a silent pitch, NOTE_OFF for a sounding one
and not after a NOTE_ON at the same time step (so every note lasts at least one step); never PAD or BOS.
Both read the whole sequence each step (vectorised on its device), so beams and re-prompts need no state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.data.music import BOS, EOS, MAX_SHIFT, OFF0, ON0, PAD, SHIFT0, VOCAB_SIZE
from genzoo.errors import GenzooError
from genzoo.generation.processors import NEG_INF, LogitsProcessor, SuppressTokens, Temperature, TopK, TopP

PITCHES = OFF0 - ON0


def shift_steps(tokens: Tensor) -> Tensor:
    """How many 16th-note steps each token advances time (1..16 for a time-shift, else 0)."""
    return ((tokens - SHIFT0 + 1).clamp(0, MAX_SHIFT) * (tokens >= SHIFT0)).long()


def elapsed_steps(seq: Tensor, start: int = 0) -> Tensor:
    """Time (16th-note steps) the events seq[:, start:] cover, (B,)."""
    return shift_steps(seq[:, start:]).sum(1)


class TimeBudget(LogitsProcessor):
    """Fold every time-shift that would bring the events after `start` to `max_time` steps into EOS."""

    def __init__(self, max_time: int, start: int = 0, fill: bool = False) -> None:
        if max_time < 1:
            raise GenzooError(f"max_time must be at least 1 step, got {max_time}")
        self.max_time = max_time
        self.start = start
        self.fill = fill

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        steps = torch.arange(1, MAX_SHIFT + 1, device=scores.device)
        crossing = elapsed_steps(seq, self.start)[:, None] + steps[None] >= self.max_time  # (B, 16)
        shifts = scores[:, SHIFT0 : SHIFT0 + MAX_SHIFT]
        own_eos = torch.full_like(scores[:, EOS : EOS + 1], NEG_INF) if self.fill else scores[:, EOS : EOS + 1]
        folded = torch.cat([own_eos, shifts.masked_fill(~crossing, NEG_INF)], 1)
        out = scores.clone()
        out[:, EOS] = torch.logsumexp(folded, 1)
        out[:, SHIFT0 : SHIFT0 + MAX_SHIFT] = shifts.masked_fill(crossing, NEG_INF)
        return out


class EventGrammar(LogitsProcessor):
    """Mask the events that would be malformed given the sequence so far (see the module docstring)."""

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return scores.masked_fill(~self.allowed(seq), NEG_INF)

    @staticmethod
    def allowed(seq: Tensor) -> Tensor:
        """(B, VOCAB_SIZE) bool: which events may come next."""
        b, t = seq.shape
        is_on = (seq >= ON0) & (seq < OFF0)
        is_off = (seq >= OFF0) & (seq < SHIFT0)
        is_shift = seq >= SHIFT0
        count = torch.zeros(b, PITCHES, dtype=torch.long, device=seq.device)
        count.scatter_add_(1, (seq - ON0).clamp(0, PITCHES - 1), is_on.long())
        count.scatter_add_(1, (seq - OFF0).clamp(0, PITCHES - 1), -is_off.long())
        sounding = count > 0
        position = torch.arange(t, device=seq.device)
        last_shift = torch.where(is_shift, position, -1).max(1).values
        onset_now = (is_on & (position > last_shift[:, None])).any(1, keepdim=True)
        allowed = torch.ones(b, VOCAB_SIZE, dtype=torch.bool, device=seq.device)
        allowed[:, [PAD, BOS]] = False
        allowed[:, ON0:OFF0] = ~sounding
        allowed[:, OFF0:SHIFT0] = sounding & ~onset_now
        return allowed


def event_processors(
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    grammar: bool = False,
    max_time: int | None = None,
    start: int = 0,
    fill: bool = False,
) -> list[LogitsProcessor]:
    """What both event models sample with, in order: temperature, PAD/BOS never, the grammar (before the
    filters, so they choose among well-formed events), top-k, top-p, and last the time budget counted from
    position `start` (the events after the prompt); `fill`: no EOS before the budget."""
    out: list[LogitsProcessor] = [Temperature(temperature), SuppressTokens([PAD, BOS])]
    out += [EventGrammar()] if grammar else []
    out += [TopK(top_k)] if top_k else []
    out += [TopP(top_p)] if top_p < 1.0 else []
    out += [TimeBudget(max_time, start, fill)] if max_time is not None else []
    return out
