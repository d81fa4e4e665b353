"""Language benchmark: genzoo's GPT beside HF transformers' GPT-2 of the same shape, on pydoc characters.

Rows (benchmarks/results/language.json):
- gpt-4x128 (4 layers, 4 heads, width 128, context 64): train_tokens_per_s (interleaved repeats, median),
  val_loss_nats (nats/char after the same wall-clock training budget), gen_tokens_per_s (batch 1, cached),
  mfu against the measured fp32 matmul peak.
- gpt-6x384 (nanoGPT shakespeare_char shape, context 256): throughput only (training and generation).
- KV cache: greedy output identical with and without it, and the speed-up.
- char_rnn (LSTM) vs gpt bits/char at the same budget; seq2seq BLEU / ROUGE-L beside copy / lead baselines.

Both systems are trained by the same plain loop (AdamW, fp32, same batches), so the comparison is of the
models, not the trainers. Run: `PYTHONPATH=src python benchmarks/language.py [--budget SECONDS]`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.generation import GenerationConfig, generate
from genzoo.nn.flops import matmul_peak_flops, transformer_flops_per_token

try:  # run as a script (benchmarks/ on sys.path) or as a module
    from common import RESULTS, Results
except ImportError:  # pragma: no cover
    from benchmarks.common import RESULTS, Results


class HFGPT2:
    """HF GPT-2 behind genzoo's token-model surface (logits for the loop; `generate` for decoding)."""

    def __init__(self, vocab: int, n_layer: int, n_head: int, d_model: int, context: int) -> None:
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = GPT2Config(
            vocab_size=vocab,
            n_positions=context,
            n_embd=d_model,
            n_layer=n_layer,
            n_head=n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=1,
            eos_token_id=2,
        )
        self.model = GPT2LMHeadModel(cfg)  # attention: sdpa (the default), like genzoo
        self.context = context

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=x).logits

    def generate(self, prompt: torch.Tensor, new: int) -> torch.Tensor:
        return self.model.generate(
            prompt, max_new_tokens=new, do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None
        )


PEAK_NOTE = "; vs the best fp32 1024^3 matmul FLOP/s observed during the run (measured beside each repeat)"


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def train_loop(
    logits_fn: Any,
    params: Any,
    data: Any,
    batch: int,
    seconds: float | None,
    steps: int | None,
    seed: int = 0,
) -> tuple[int, float]:
    """Train with AdamW (lr 1e-3, clip 1) for `seconds` or `steps`; returns (tokens seen, seconds spent)."""
    params = list(params)
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    tokens, start = 0, time.perf_counter()
    step = 0
    while True:
        if steps is not None and step >= steps:
            break
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
        b = data.batch(batch, generator=gen)
        x, y = b[:, :-1], b[:, 1:]
        loss = F.cross_entropy(logits_fn(x).float().reshape(-1, data.info.extra["vocab_size"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        tokens += x.numel()
        step += 1
    return tokens, time.perf_counter() - start


@torch.no_grad()
def val_nats_per_char(logits_fn: Any, val: Any, batches: int = 20, batch: int = 32) -> float:
    total, count = 0.0, 0
    for i in range(batches):
        idx = range(i * batch, min(len(val), (i + 1) * batch))
        if not idx:
            break
        b = torch.stack([val[j] for j in idx])
        logits = logits_fn(b[:, :-1]).float()
        total += float(
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1), reduction="sum")
        )
        count += b[:, 1:].numel()
    return total / count / val.info.extra["chars_per_token"]


def train_for(model: Any, data: Any, seconds: float, lr: float = 1e-3, batch: int = 32) -> str:
    """AdamW (weight decay 0.01, clip 1) on random batches of `data` for `seconds` of wall-clock time.

    Returns "N steps, C CPU-s": on the shared machine a process gets a fraction of a core, so the CPU
    seconds say how much compute the wall-clock budget really bought.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    start, cpu, steps = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - start < seconds:
        model.train()
        idx = torch.randint(0, len(data), (batch,)).tolist()
        loss = model.loss(data.collate([data[i] for i in idx]))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    return f"{steps} steps of {batch}, {time.process_time() - cpu:.0f} CPU-s"


def run_tasks(res: Results, budget: float, ablation: bool = True) -> None:
    """seq2seq on the offline tasks, each beside its trivial baseline, after `budget` seconds of training.

    `genzoo-seq2seq` is the pointer-generator (copy=True) over a joint BPE of source and target; with
    `ablation`, translation is also trained without the copy mechanism on characters (the earlier recipe).
    """
    from genzoo.data.text_tasks import first_sentence
    from genzoo.metrics.text import bleu, rouge_l

    systems = [("genzoo-seq2seq", {"copy": True}, {"tokenizer": "bpe", "vocab_size": 1000})]
    for name, metric in (("translation_en_fr", "bleu"), ("docstring_summaries", "rouge_l")):
        runs = systems + (
            [("genzoo-seq2seq-nocopy-char", {"copy": False}, {"tokenizer": "char"})]
            if ablation and metric == "bleu"
            else []
        )
        for system, model_opts, data_opts in runs:
            data = gz.data.load(name, **data_opts)
            test = gz.data.load(name, split="test", **data_opts)
            torch.manual_seed(0)
            model = gz.create("seq2seq", data=data, d_model=64, n_head=4, dropout=0.1, max_len=128, **model_opts)
            steps = train_for(model, data, budget)
            # summaries are one docstring line (<= 100 chars, ~35 BPE tokens): cap the greedy output there
            hyps = model.transform(test.sources, max_new_tokens=96 if metric == "bleu" else 40)
            score = bleu if metric == "bleu" else rouge_l
            what = ", ".join(f"{k}={v}" for k, v in {**model_opts, **data_opts}.items())
            tb = f"{budget:.0f} s training ({steps}; {what}), greedy, {len(test)} test pairs"
            res.add(name, system, metric, score(hyps, test.targets), True, tb)
        base = test.sources if metric == "bleu" else [first_sentence(s) for s in test.sources]
        res.add(
            name,
            "copy-input" if metric == "bleu" else "lead-sentence",
            metric,
            score(base, test.targets),
            True,
            "trivial baseline",
        )


def run_qa(res: Results, mlm_budget: float, span_budget: float) -> None:
    """bert on stdlib_qa: masked-LM pretraining on the task's own text, then span fine-tuning; EM/F1 on the
    test split beside trivial baselines (first sentence, sliding-window word overlap, and the most common
    train answer for each question type)."""
    from collections import Counter

    from genzoo.metrics.text import exact_match_f1
    from genzoo.models.transformers.qa import answer_all, first_sentence_answer, sliding_window_answer

    train = gz.data.load("stdlib_qa", max_len=160)
    mlm = gz.data.load("stdlib_qa", objective="mlm", max_len=160)
    test = gz.data.load("stdlib_qa", split="test", max_len=160)
    gold = [e.answer for e in test.examples]
    torch.manual_seed(0)
    model = gz.create("bert", data=train, d_model=128, n_layer=4, n_head=4, dropout=0.1)
    mlm_steps = train_for(model, mlm, mlm_budget)
    span_steps = train_for(model, train, span_budget)
    preds = answer_all(model, test.examples)

    def kind(question: str) -> str:
        return "default" if question.startswith("What is the default") else question.split()[-1]

    common = {k: Counter(e.answer for e in train.examples if kind(e.question) == k).most_common(1)[0][0]
              for k in {kind(e.question) for e in train.examples}}
    systems = {
        "genzoo-bert": (
            preds,
            f"4x128 BERT, BPE 2000, {mlm_budget:.0f} s MLM ({mlm_steps}) + {span_budget:.0f} s span "
            f"fine-tuning ({span_steps}), {len(gold)} test questions",
        ),
        "sliding-window": ([sliding_window_answer(e.question, e.context) for e in test.examples], "trivial baseline"),
        "first-sentence": ([first_sentence_answer(e.context) for e in test.examples], "trivial baseline"),
        "most-common-answer": ([common[kind(e.question)] for e in test.examples],
                               "trivial baseline: the commonest train answer of the question's type"),
    }
    for system, (answers, budget) in systems.items():
        scores = exact_match_f1(answers, gold)
        for metric in ("f1", "exact_match"):
            res.add("stdlib_qa", system, metric, scores[metric], True, budget)


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:  # noqa: PLR0915 - one linear script, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of training per system and task")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--tasks-only",
        action="store_true",
        help="only the task rows (QA, translation, summarisation), written to results/language_tasks.json",
    )
    parser.add_argument("--qa-mlm-budget", type=float, default=60.0, help="seconds of BERT MLM pretraining")
    parser.add_argument("--qa-budget", type=float, default=150.0, help="seconds of BERT span fine-tuning")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared, oversubscribed CPU, OpenMP spin-waits make 2 slower)",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds: 1 s budgets, no 6x384 model, few pairs")
    args = parser.parse_args()
    if args.smoke:
        args.budget, args.qa_mlm_budget, args.qa_budget, args.skip_large = 1.0, 1.0, 1.0, True
    cores = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    budget = args.budget
    res = Results("language_tasks" if args.tasks_only else "language", smoke=args.smoke)
    if args.tasks_only:
        run_qa(res, args.qa_mlm_budget, args.qa_budget)
        run_tasks(res, budget)
        torch.set_num_threads(cores)
        res.write()
        return
    torch.manual_seed(0)
    peaks = [matmul_peak_flops("float32")]  # fp32 FLOP/s; the best observed over the run is the peak
    peak16 = matmul_peak_flops("bfloat16")
    res.add(
        "matmul-1024",
        "torch",
        "peak_gflops_fp32_at_start",
        peaks[0] / 1e9,
        True,
        "best of 5 fp32 1024^3 matmuls",
    )
    res.add(
        "matmul-1024",
        "torch",
        "peak_gflops_bf16",
        peak16 / 1e9,
        True,
        "best of 5 bf16 1024^3 matmuls (no AMX/AVX512-BF16 here: emulated, so training runs in fp32)",
    )
    threads = torch.get_num_threads()

    # ---------------- gpt-4x128, context 64 ------------------------------------------------------------
    train = gz.data.load("pydoc", block_size=64)
    val = gz.data.load("pydoc", split="val", block_size=64)
    vocab = train.info.extra["vocab_size"]
    shape = dict(n_layer=4, n_head=4, d_model=128)
    ours = gz.create("gpt", data=train, context_length=64, **shape).train()
    hf = HFGPT2(vocab, context=64, **shape)
    hf.model.train()
    systems = {"genzoo": (ours.forward_tokens, ours), "transformers": (hf.logits, hf.model)}
    flops = {name: transformer_flops_per_token(n_params(m), 4, 128, 64) for name, (_, m) in systems.items()}
    batch = 32
    speeds: dict[str, list[float]] = {k: [] for k in systems}
    for fn, m in systems.values():  # warm-up
        train_loop(fn, m.parameters(), train, batch, None, 3)
    for _ in range(3):
        peaks.append(matmul_peak_flops.__wrapped__("float32"))  # the shared CPU drifts: measure beside each
        for name, (fn, m) in systems.items():
            tokens, secs = train_loop(fn, m.parameters(), train, batch, None, 10)
            speeds[name].append(tokens / secs)
    task = "gpt-4x128"
    tb = f"batch {batch}x64, fp32, {threads} threads, median of 3 interleaved x 10 steps"
    for name in systems:
        tps = statistics.median(speeds[name])
        res.add(task, name, "train_tokens_per_s", tps, True, tb, params=n_params(systems[name][1]))
        res.add(task, name, "mfu", tps * flops[name] / max(peaks), True, tb + PEAK_NOTE)
    res.add(
        task,
        "genzoo/transformers",
        "train_speed_ratio",
        statistics.median(speeds["genzoo"]) / statistics.median(speeds["transformers"]),
        True,
        tb,
    )

    # same wall-clock budget from fresh weights, same batches
    torch.manual_seed(0)
    ours = gz.create("gpt", data=train, context_length=64, **shape).train()
    torch.manual_seed(0)
    hf = HFGPT2(vocab, context=64, **shape)
    hf.model.train()
    for name, fn, m in (("genzoo", ours.forward_tokens, ours), ("transformers", hf.logits, hf.model)):
        tokens, secs = train_loop(fn, m.parameters(), train, batch, budget, None)
        m.eval()
        nats = val_nats_per_char(fn, val)
        res.add(
            task,
            name,
            "val_loss_nats",
            nats,
            False,
            f"{budget:.0f} s training ({tokens} tokens), pydoc val, nats/char",
        )
        res.add(task, name, "bits_per_char", nats / math.log(2), False, f"{budget:.0f} s training, pydoc val")

    # generation, batch 1, greedy, with cache; 1 thread (decoding a tiny model is latency-bound)
    torch.set_num_threads(1)
    prompt = torch.tensor([train.tokenizer.encode("The for statement")])
    n_new_hf = 64 - prompt.shape[1]  # HF GPT-2 cannot generate past n_positions
    cfg = GenerationConfig(max_new_tokens=n_new_hf, do_sample=False)
    gen_times: dict[str, list[float]] = {
        "genzoo": [],
        "transformers": [],
        "genzoo-256": [],
        "genzoo-nocache": [],
    }

    def no_cache() -> None:
        seq = prompt
        for _ in range(n_new_hf):
            seq = torch.cat([seq, ours.forward_tokens(seq[:, -64:])[:, -1].argmax(-1, keepdim=True)], 1)

    with torch.no_grad():
        timed(lambda: generate(ours, prompt, cfg))
        timed(lambda: hf.generate(prompt, n_new_hf))
        for _ in range(3):
            gen_times["genzoo"].append(timed(lambda: generate(ours, prompt, cfg)))
            gen_times["transformers"].append(timed(lambda: hf.generate(prompt, n_new_hf)))
            gen_times["genzoo-nocache"].append(timed(no_cache))
            gen_times["genzoo-256"].append(
                timed(lambda: generate(ours, prompt, cfg.updated(max_new_tokens=256)))
            )
    gb = f"batch 1, greedy, {n_new_hf} new tokens after a {prompt.shape[1]}-token prompt, 1 thread, median 3"
    res.add(task, "genzoo", "gen_tokens_per_s", n_new_hf / statistics.median(gen_times["genzoo"]), True, gb)
    res.add(
        task,
        "transformers",
        "gen_tokens_per_s",
        n_new_hf / statistics.median(gen_times["transformers"]),
        True,
        gb,
    )
    res.add(
        task,
        "genzoo",
        "gen_tokens_per_s_256_sliding",
        256 / statistics.median(gen_times["genzoo-256"]),
        True,
        "batch 1, greedy, 256 new tokens (past the 64 context: sliding window), 1 thread; "
        "HF GPT-2 raises IndexError here",
    )
    res.add(
        task,
        "genzoo",
        "kv_cache_speedup",
        statistics.median(gen_times["genzoo-nocache"]) / statistics.median(gen_times["genzoo"]),
        True,
        gb,
    )
    with torch.no_grad():
        cached = generate(ours, prompt, cfg)
        seq = prompt
        for _ in range(n_new_hf):
            seq = torch.cat([seq, ours.forward_tokens(seq)[:, -1].argmax(-1, keepdim=True)], 1)
    res.add(task, "genzoo", "kv_cache_greedy_identical", float(torch.equal(cached, seq)), True, gb)
    sample = ours.generate_text("The for statement", max_new_tokens=300, top_p=0.9, temperature=0.8, seed=0)
    res.file("language_sample.txt").write_text("The for statement" + sample + "\n")
    torch.set_num_threads(threads)

    # ---------------- LSTM vs GPT at the same budget -----------------------------------------------------
    torch.manual_seed(0)
    lstm = gz.create("char_rnn", data=train, hidden=256, n_layer=2, bptt=64).train()
    tokens, _ = train_loop(lstm.train_logits, lstm.parameters(), train, batch, budget, None)
    lstm.eval()
    nats = val_nats_per_char(lstm.forward_tokens, val)
    res.add(
        "pydoc-chars",
        "genzoo-char_rnn",
        "bits_per_char",
        nats / math.log(2),
        False,
        f"LSTM 2x256, {budget:.0f} s training ({tokens} tokens); compare gpt-4x128 bits_per_char",
    )

    run_tasks(res, budget, ablation=False)

    # ---------------- gpt-6x384, context 256: throughput only --------------------------------------------
    if not args.skip_large:
        train256 = gz.data.load("pydoc", block_size=256)
        shape = dict(n_layer=6, n_head=6, d_model=384)
        ours = gz.create("gpt", data=train256, context_length=256, **shape).train()
        hf = HFGPT2(vocab, context=256, **shape)
        hf.model.train()
        systems = {"genzoo": (ours.forward_tokens, ours), "transformers": (hf.logits, hf.model)}
        speeds = {k: [] for k in systems}
        for fn, m in systems.values():
            train_loop(fn, m.parameters(), train256, 8, None, 1)
        for _ in range(2):
            peaks.append(matmul_peak_flops.__wrapped__("float32"))
            for name, (fn, m) in systems.items():
                tokens, secs = train_loop(fn, m.parameters(), train256, 8, None, 1)
                speeds[name].append(tokens / secs)
        tb = f"batch 8x256, fp32, {threads} threads, median of 2 interleaved x 1 step"
        for name, (_, m) in systems.items():
            tps = statistics.median(speeds[name])
            res.add("gpt-6x384", name, "train_tokens_per_s", tps, True, tb, params=n_params(m))
            res.add(
                "gpt-6x384",
                name,
                "mfu",
                tps * transformer_flops_per_token(n_params(m), 6, 384, 256) / max(peaks),
                True,
                tb + PEAK_NOTE,
            )
        torch.set_num_threads(1)
        ours.eval()
        hf.model.eval()
        new = 256 - prompt.shape[1]
        cfg = GenerationConfig(max_new_tokens=new, do_sample=False)
        times: dict[str, list[float]] = {"genzoo": [], "transformers": []}
        with torch.no_grad():
            for _ in range(2):
                times["genzoo"].append(timed(lambda: generate(ours, prompt, cfg)))
                times["transformers"].append(timed(lambda: hf.generate(prompt, new)))
        gb = f"batch 1, greedy, {new} new tokens, 1 thread, median of 2"
        for name in times:
            res.add("gpt-6x384", name, "gen_tokens_per_s", new / statistics.median(times[name]), True, gb)
        torch.set_num_threads(threads)
    res.add(
        "matmul-1024",
        "torch",
        "peak_gflops_fp32",
        max(peaks) / 1e9,
        True,
        f"best of {len(peaks)} measurements (5 matmuls each) spread over the run; the MFU denominator",
    )
    torch.set_num_threads(cores)  # the JSON's "machine" names the CPU's cores, not the threads used
    print(f"wrote {res.write()}")


if __name__ == "__main__":
    Path(RESULTS).mkdir(parents=True, exist_ok=True)
    main()
