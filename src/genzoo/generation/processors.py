"""Logits processors: objects `(seq (B, T), scores (B, V)) -> scores (B, V)`, chained by `LogitsProcessorList`.

The shape is HF transformers' (`LogitsProcessor` / `LogitsProcessorList`): `seq` is every token so far
(prompt included), `scores` the next-token logits; a removed token gets -inf. Everything stays on the
scores' device: no processor here reads a tensor back to the host, so a step costs no synchronisation.

`processors_from_config` builds the list a `GenerationConfig` asks for, in HF's order: guidance mixing,
repetition penalty, then (when sampling) temperature, top-k, top-p, min-p. Callers append their own
(token masks, grammars, music's time budget) after those. The plain functions `top_k_filter` and friends
are the same filters for direct use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.generation.config import GenerationConfig

NEG_INF = float("-inf")


class LogitsProcessor:
    """Base class: `__call__(seq, scores)` returns new scores (it may modify `scores` in place)."""

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        raise NotImplementedError


class LogitsProcessorList(list):
    """Processors applied in order; an empty list returns the scores unchanged."""

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        for processor in self:
            scores = processor(seq, scores)
        return scores


# -- the filters as plain functions ---------------------------------------------------------------------
def repetition_penalty(logits: Tensor, seq: Tensor, penalty: float) -> Tensor:
    """CTRL (Keskar et al. 2019): divide positive / multiply negative logits of tokens already present."""
    if penalty == 1.0 or seq.numel() == 0:
        return logits
    seen = torch.gather(logits, 1, seq)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(1, seq, seen)


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k highest logits per row (all tokens tied with the k-th are kept too)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus (Holtzman et al. 2020): the smallest set of most likely tokens whose mass reaches p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    mass_before = probs.cumsum(-1) - probs  # mass of strictly more likely tokens
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False  # always keep the most likely token
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def min_p_filter(logits: Tensor, min_p: float) -> Tensor:
    """min-p (Nguyen et al. 2024): keep tokens with probability >= min_p * (probability of the best token)."""
    if min_p <= 0:
        return logits
    probs = logits.softmax(-1)
    threshold = min_p * probs.max(-1, keepdim=True).values
    return logits.masked_fill(probs < threshold, NEG_INF)


# -- the same as processors -----------------------------------------------------------------------------
class RepetitionPenalty(LogitsProcessor):
    def __init__(self, penalty: float) -> None:
        if penalty <= 0:
            raise GenzooError(f"repetition_penalty must be > 0, got {penalty}")
        self.penalty = penalty

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return repetition_penalty(scores, seq, self.penalty)


class Temperature(LogitsProcessor):
    def __init__(self, temperature: float) -> None:
        if temperature <= 0:
            raise GenzooError(f"temperature must be > 0, got {temperature} (use do_sample=False for greedy)")
        self.temperature = temperature

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return scores / self.temperature


class TopK(LogitsProcessor):
    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return top_k_filter(scores, self.k)


class TopP(LogitsProcessor):
    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return top_p_filter(scores, self.p)


class MinP(LogitsProcessor):
    def __init__(self, min_p: float) -> None:
        self.min_p = min_p

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        return min_p_filter(scores, self.min_p)


class SuppressTokens(LogitsProcessor):
    """Never produce these tokens (e.g. PAD and BOS, which no real event follows)."""

    def __init__(self, tokens: Iterable[int]) -> None:
        self.tokens = sorted({int(t) for t in tokens})
        self._index: Tensor | None = None

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        if self._index is None or self._index.device != scores.device:
            self._index = torch.tensor(self.tokens, dtype=torch.long, device=scores.device)
        return scores.index_fill(-1, self._index, NEG_INF)


class AllowedTokens(LogitsProcessor):
    """Only tokens a mask allows: a fixed (V,) bool mask, or a function of the sequence returning (B, V).

    The function form is how a grammar constrains decoding: it reads the tokens so far and says which may
    come next (see `genzoo.generation.music.EventGrammar`). A row with nothing allowed would be left with
    no token to produce, so the mask must always allow at least one.
    """

    def __init__(self, allowed: Tensor | Callable[[Tensor], Tensor]) -> None:
        self.allowed = allowed

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        mask = self.allowed(seq) if callable(self.allowed) else self.allowed
        return scores.masked_fill(~mask.to(scores.device), NEG_INF)


class ClassifierFreeGuidance(LogitsProcessor):
    """Mix conditional and unconditional predictions: log p_u + w (log p_c - log p_u), (2B, V) -> (B, V).

    The model runs every row twice (`genzoo.generation.guidance.Guided`): the first B rows of the scores are
    conditional, the last B unconditional. w = 1 is the conditional model, 0 the unconditional one, w > 1
    pushes samples towards the condition (Ho & Salimans 2022; for token models as in Make-A-Scene). A token
    either side rules out (-inf) stays ruled out. This processor must come first: the others see B rows.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, seq: Tensor, scores: Tensor) -> Tensor:
        if scores.shape[0] != 2 * seq.shape[0]:
            raise ValueError(f"guidance needs 2B = {2 * seq.shape[0]} score rows, got {scores.shape[0]}")
        cond, uncond = scores.float().log_softmax(-1).chunk(2)
        mixed = uncond + self.scale * (cond - uncond)
        return mixed.masked_fill(~(torch.isfinite(cond) & torch.isfinite(uncond)), NEG_INF)


def processors_from_config(
    config: GenerationConfig, extra: Sequence[LogitsProcessor] = (), *, guided: bool = False
) -> LogitsProcessorList:
    """The processors `config` asks for (greedy and beams skip the sampling filters), then `extra`.

    guided: the scores come in conditional/unconditional pairs to mix with `config.guidance_scale`.
    """
    out = LogitsProcessorList()
    if guided:
        out.append(ClassifierFreeGuidance(config.guidance_scale))
    if config.repetition_penalty != 1.0:
        out.append(RepetitionPenalty(config.repetition_penalty))
    if config.do_sample and config.num_beams == 1:
        if config.temperature != 1.0:
            out.append(Temperature(config.temperature))
        if config.top_k > 0:
            out.append(TopK(config.top_k))
        if config.top_p < 1.0:
            out.append(TopP(config.top_p))
        if config.min_p > 0:
            out.append(MinP(config.min_p))
    out.extend(extra)
    return out
