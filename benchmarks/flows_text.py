"""Text with a flow: the argmax flow on Python's pydoc topics, in bits per character, beside baselines.

Baselines, fitted on the training part and scored on the test part (the last 5% of the text): a unigram
model (character frequencies, add-one smoothing), a bigram model (add-one smoothing) and, at the flow's
wall-clock budget, the same embedding + GRU with a softmax head (`gru-softmax`: what the flow's context
network reaches when the per-character distribution is an exact categorical instead of a flow). The flow's
figure is an upper bound on its bits/char (the dequantisation bound; k = 1 is the ELBO, k = 16 importance
samples tighten it); its row carries a learning curve (k = 1 bits/char on the first 64 test windows against
training seconds). Samples are written beside the JSON.

    PYTHONPATH=src python benchmarks/flows_text.py [--seconds 150]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.optim import adam  # noqa: E402

SEQ_LEN, BATCH = 64, 32


def ngram_bits(train: torch.Tensor, test: torch.Tensor, vocab: int) -> tuple[float, float]:
    """(unigram, bigram) bits/char of the test codes with add-one smoothing."""
    uni = torch.bincount(train, minlength=vocab).double() + 1
    uni_bits = float(-(uni / uni.sum())[test].log2().mean())
    pairs = torch.zeros(vocab, vocab, dtype=torch.float64)
    pairs.index_put_((train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True)
    pairs += 1
    probs = pairs / pairs.sum(1, keepdim=True)
    bi_bits = float(-probs[test[:-1], test[1:]].log2().mean())
    return uni_bits, bi_bits


class GRUSoftmax(nn.Module):
    """Baseline: the argmax flow's embedding and GRU with a softmax over the vocabulary."""

    def __init__(self, vocab: int, embed: int, context: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab + 1, embed)
        self.rnn = nn.GRU(embed, context, batch_first=True)
        self.head = nn.Linear(context, vocab)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Summed NLL in nats of the (N, T) codes."""
        start = torch.full_like(x[:, :1], self.vocab)
        out, _ = self.rnn(self.embed(torch.cat([start, x[:, :-1]], 1)))
        return F.cross_entropy(self.head(out).flatten(0, 1), x.flatten(), reduction="sum")


def train_for(loss_of, params, lr: float, windows, seconds: float, curve_of=None) -> tuple[int, list]:
    """Adam at `lr` for `seconds` of training (evaluation time excluded); (steps, [[seconds, value], ...])."""
    opt = adam(params, lr=lr)
    g = torch.Generator().manual_seed(0)
    steps, spent, curve, next_eval = 0, 0.0, [], 0.0
    while spent < seconds:
        if curve_of is not None and spent >= next_eval:
            curve.append([round(spent, 1), round(curve_of(), 4)])
            next_eval += seconds / 10
        start = time.perf_counter()
        idx = torch.randint(0, len(windows), (BATCH,), generator=g)
        loss = loss_of(windows[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        steps += 1
        spent += time.perf_counter() - start
    return steps, curve


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

    chars = test.windows.numel()

    def budget_of(steps: int) -> str:
        return f"{args.seconds:.0f} s CPU training (1 thread), {steps} steps of {BATCH}x{SEQ_LEN} characters"

    torch.manual_seed(0)
    model = gz.create("argmax_flow", data=train)
    probe = test.windows[:64]

    def probe_bits() -> float:
        model.eval()
        torch.manual_seed(1)
        bits = float(-model.log_prob(probe, k=1).double().mean()) / SEQ_LEN / math.log(2)
        model.train()
        return bits

    model.train()
    steps, curve = train_for(
        lambda w: model.loss((w, None))["loss"],
        list(model.parameters()),
        model.default_lr,
        train.windows,
        args.seconds,
        probe_bits,
    )
    model.eval()
    budget = budget_of(steps)
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
            config={f: getattr(model.config, f) for f in ("embed", "context", "num_layers", "hidden")},
            **({"curve_seconds_vs_test64_bits_k1": curve} if k == 1 else {}),
        )

    torch.manual_seed(0)
    cfg = model.config
    base = GRUSoftmax(vocab, cfg.embed, cfg.context)
    steps, _ = train_for(
        lambda w: base.nll(w) / w.numel(), list(base.parameters()), model.default_lr, train.windows, args.seconds
    )
    with torch.no_grad():
        nll = float(sum(base.nll(w) for w in test.windows.split(64)))
    res.add(
        "pydoc_chars",
        "gru-softmax",
        "bits_per_char",
        nll / chars / math.log(2),
        False,
        budget_of(steps) + "; exact (categorical head on the flow's embedding + GRU)",
        params=sum(p.numel() for p in base.parameters()),
    )
    torch.manual_seed(0)
    text = "\n---\n".join(train.decode(s) for s in model.sample(4, length=200))
    (RESULTS / "flows_text_samples.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
