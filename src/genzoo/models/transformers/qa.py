"""Extractive question answering with `bert`'s span head, plus the trivial baselines it is measured against.

`answer(model, question, context)` encodes ``<bos> question <sep> context`` exactly as `stdlib_qa` / `squad`
items are built, scores every context span (start logit + end logit, at most `max_answer_tokens` long) and
returns the best span's text, cut from the context by the tokens' character offsets. A context longer than
the model's window is read in overlapping windows (half a window apart, with a warning) and the best span
over all windows wins — BERT's own recipe for SQuAD documents longer than 384 tokens.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from genzoo.data.text_qa import encode_with_offsets
from genzoo.data.tokenizers import BOS, PAD, SEP
from genzoo.errors import GenzooError


@torch.no_grad()
def answer(model: Any, question: str, context: str, max_answer_tokens: int = 30) -> tuple[str, float]:
    """The best answer span of `context` for `question`, and its score (start + end logit)."""
    if not isinstance(question, str) or not question.strip():
        raise GenzooError("the question is empty")
    if not isinstance(context, str) or not context.strip():
        raise GenzooError("the context is empty")
    tok, max_len = model.tokenizer, int(model.config.max_len)
    q = [BOS] + tok.encode(question)[: max_len // 2] + [SEP]
    ids, offsets = encode_with_offsets(tok, context)
    room = max_len - len(q)
    stride = max(1, room // 2)
    starts = list(range(0, max(len(ids) - room, 0) + stride, stride)) if len(ids) > room else [0]
    starts = [s for s in starts if s < len(ids)] or [0]
    if len(starts) > 1:
        warnings.warn(
            f"the context has {len(ids)} tokens, more than the {room} that fit beside the question; "
            f"reading it in {len(starts)} overlapping windows",
            stacklevel=2,
        )
    model.eval()
    rows = [torch.tensor(q + ids[s : s + room]) for s in starts]
    start_logits, end_logits = model.span_logits(pad_sequence(rows, batch_first=True, padding_value=PAD))
    best = (float("-inf"), 0, 0)
    for w, lo in enumerate(starts):
        n = min(room, len(ids) - lo)
        s_log = start_logits[w, len(q) : len(q) + n].float()
        e_log = end_logits[w, len(q) : len(q) + n].float()
        scores = s_log[:, None] + e_log[None, :]
        allowed = torch.ones(n, n, dtype=torch.bool).triu().tril(max_answer_tokens - 1)
        scores = scores.masked_fill(~allowed, float("-inf"))
        flat = int(scores.argmax())
        value = float(scores.flatten()[flat])
        if value > best[0]:
            best = (value, lo + flat // n, lo + flat % n)
    score, s, e = best
    return context[offsets[s][0] : offsets[e][1]].strip(), score


def answer_all(model: Any, examples: list[Any], max_answer_tokens: int = 30) -> list[str]:
    """Answers for a list of QAExample-like objects (with `.question` and `.context`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [answer(model, e.question, e.context, max_answer_tokens)[0] for e in examples]


# -- trivial baselines -----------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+|[^\w\s]")
_STOP = {
    "what",
    "is",
    "the",
    "of",
    "in",
    "does",
    "a",
    "an",
    "to",
    "value",
    "default",
    "which",
    "who",
    "how",
    "when",
    "where",
    "why",
    "did",
    "do",
    "was",
    "were",
    "are",
    "for",
    "on",
    "by",
    "with",
}


def first_sentence_answer(context: str) -> str:
    """Baseline: the context's first sentence (up to the first '. ' or ': ')."""
    cut = min((i for i in (context.find(". "), context.find(": ")) if i >= 0), default=len(context))
    return context[:cut].strip()


def sliding_window_answer(question: str, context: str, window: int = 6, max_words: int = 4) -> str:
    """Baseline after Rajpurkar et al. (2016) and Richardson et al. (2013): the span of at most `max_words`
    tokens, containing no question word, whose neighbourhood (`window` tokens either side) shares the most
    question words; ties go to the shorter, then earlier span."""
    spans = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(context)]
    qwords = {w.lower() for w in _WORD.findall(question) if w.isalnum() or "_" in w} - _STOP
    qwords |= {part for w in qwords for part in w.split(".")}  # "Class.method" also matches "method"
    words = [w for _, _, w in spans]
    best = (-1.0, 0, 0)
    for i in range(len(spans)):
        for j in range(i, min(i + max_words, len(spans))):
            inside = set(words[i : j + 1])
            if inside & qwords or not any(w.isalnum() for w in inside):
                continue
            around = set(words[max(0, i - window) : i]) | set(words[j + 1 : j + 1 + window])
            score = len(around & qwords) - 0.01 * (j - i)
            if score > best[0]:
                best = (score, i, j)
    if best[0] < 0:
        return first_sentence_answer(context)
    return context[spans[best[1]][0] : spans[best[2]][1]]
