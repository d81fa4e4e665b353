"""Text metrics: bits per character / perplexity of a language model, BLEU, chrF, ROUGE-L, SQuAD EM/F1."""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Any

import torch

from genzoo.errors import GenzooError


@torch.no_grad()
def stream_nll(
    model: Any, data: Any, batch_size: int = 32, max_batches: int | None = None
) -> dict[str, float]:
    """Mean next-token NLL of a causal LM over a TokenStream's non-overlapping windows.

    Returns nats/token, perplexity and bits/char (nats/token x tokens/char / ln 2): bits/char lets char and
    BPE models be compared on the same text.
    """
    model.eval()
    total, count = 0.0, 0
    n = len(data)
    for bi, start in enumerate(range(0, n, batch_size)):
        if max_batches is not None and bi >= max_batches:
            break
        batch = torch.stack([data[i] for i in range(start, min(n, start + batch_size))]).to(model.device)
        nll = -model.log_prob(batch)
        total += float(nll.sum())
        count += batch.numel() - batch.shape[0]
    if count == 0:
        raise GenzooError("no text to evaluate")
    nats = total / count
    cpt = float(data.info.extra.get("chars_per_token", 1.0))
    return {"nats_per_token": nats, "perplexity": math.exp(nats), "bits_per_char": nats / cpt / math.log(2)}


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacrebleu, its default 13a tokenisation), 0..100."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def chrf(hypotheses: list[str], references: list[str]) -> float:
    """Corpus chrF (sacrebleu: character 6-grams, beta 2), 0..100: kinder than BLEU to a close word form."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(hypotheses, [references]).score)


def rouge_l(hypotheses: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F-measure (rouge-score, with stemming), 0..1."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references, strict=True)]
    return sum(scores) / max(len(scores), 1)


def _normalize(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def exact_match_f1(predictions: list[str], answers: list[str]) -> dict[str, float]:
    """SQuAD v1.1 exact match and token F1 (means, 0..1)."""
    em, f1 = 0.0, 0.0
    for p, a in zip(predictions, answers, strict=True):
        pt, at = _normalize(p), _normalize(a)
        em += float(pt == at)
        common = collections.Counter(pt) & collections.Counter(at)
        same = sum(common.values())
        if same:
            prec, rec = same / len(pt), same / len(at)
            f1 += 2 * prec * rec / (prec + rec)
    n = max(len(predictions), 1)
    return {"exact_match": em / n, "f1": f1 / n}
