"""Text with a flow: the argmax flow on Python's pydoc topics, in bits per character, beside baselines.

Baselines, fitted on the training part and scored on the test part (the last 5% of the text): a unigram
model (character frequencies, add-one smoothing) and a bigram model (add-one smoothing). The flow's figure
is an upper bound on its bits/char (the dequantisation bound; k = 1 is the ELBO, k = 16 importance samples
tighten it). Samples are written beside the JSON.

    PYTHONPATH=src python benchmarks/flows_text.py [--seconds 150]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402

SEQ_LEN, BATCH = 64, 32


def ngram_bits(train: torch.Tensor, test: torch.Tensor, vocab: int) -> tuple[float, float]:
    """(unigram, bigram) bits/char of the test codes with add-one smoothing."""
    uni = torch.bincount(train, minlength=vocab).double() + 1
    uni_bits = float(-(uni / uni.sum())[test].log2().mean())
    pairs = torch.zeros(vocab, vocab, dtype=torch.float64)
    pairs.index_put_(
        (train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True
    )
    pairs += 1
    probs = pairs / pairs.sum(1, keepdim=True)
    bi_bits = float(-probs[test[:-1], test[1:]].log2().mean())
    return uni_bits, bi_bits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results("flows_text")
    train, test = (
        gz.data.load("pydoc_chars", seq_len=SEQ_LEN),
        gz.data.load("pydoc_chars", "test", seq_len=SEQ_LEN),
    )
    vocab = train.info.extra["vocab_size"]
    uni, bi = ngram_bits(train.windows.flatten(), test.windows.flatten(), vocab)
    res.add("pydoc_chars", "unigram", "bits_per_char", uni, False, "character counts of the training text")
    res.add("pydoc_chars", "bigram", "bits_per_char", bi, False, "character-pair counts of the training text")

    torch.manual_seed(0)
    model = gz.create("argmax_flow", data=train)
    opt = model.optimizers_for(model.default_lr)[0]
    g = torch.Generator().manual_seed(0)
    steps, start = 0, time.perf_counter()
    model.train()
    while time.perf_counter() - start < args.seconds:
        idx = torch.randint(0, len(train), (BATCH,), generator=g)
        loss = model.loss((train.windows[idx], None))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    model.eval()
    budget = f"{args.seconds:.0f} s CPU training (1 thread), {steps} steps of {BATCH}x{SEQ_LEN} characters"
    chars = test.windows.numel()
    for k in (1, 16):
        torch.manual_seed(0)
        nll = float(-torch.cat([model.log_prob(w, k=k) for w in test.windows.split(64)]).double().sum())
        res.add(
            "pydoc_chars",
            f"genzoo-argmax_flow-k{k}",
            "bits_per_char",
            nll / chars / math.log(2),
            False,
            budget + f"; upper bound with {k} importance sample(s)",
            params=sum(p.numel() for p in model.parameters()),
        )
    torch.manual_seed(0)
    text = "\n---\n".join(train.decode(s) for s in model.sample(4, length=200))
    (RESULTS / "flows_text_samples.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
