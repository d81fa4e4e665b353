"""Logits processors: pure functions (B, V) -> (B, V); removed tokens get -inf."""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.generation.config import GenerationConfig


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
    return logits.masked_fill(logits < kth, float("-inf"))


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
    return logits.masked_fill(drop, float("-inf"))


def min_p_filter(logits: Tensor, min_p: float) -> Tensor:
    """min-p (Nguyen et al. 2024): keep tokens with probability >= min_p * (probability of the best token)."""
    if min_p <= 0:
        return logits
    probs = logits.softmax(-1)
    threshold = min_p * probs.max(-1, keepdim=True).values
    return logits.masked_fill(probs < threshold, float("-inf"))


def apply_processors(logits: Tensor, seq: Tensor, config: GenerationConfig) -> Tensor:
    """Penalty, temperature, top-k, top-p, min-p in HF's order. `seq` is (B, T) ids so far."""
    logits = repetition_penalty(logits.float(), seq, config.repetition_penalty)
    if not config.do_sample:
        return logits
    logits = logits / config.temperature
    logits = top_k_filter(logits, config.top_k)
    logits = top_p_filter(logits, config.top_p)
    return min_p_filter(logits, config.min_p)
