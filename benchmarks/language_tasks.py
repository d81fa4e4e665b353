"""Language tasks on the machine's own corpora (gettext catalogs, man pages), each beside its baselines.

Rows go into benchmarks/results/language_tasks.json (rows of other tasks there are kept); samples into
language_tasks_samples.txt. One `--task` per run, so each fits a compute slot:

- translation: `seq2seq` (copy head, label smoothing, joint BPE) on `gettext_pairs` en->fr, beam search on
  held-out programs; BLEU/chrF beside copying the input and a word-by-word dictionary from the train pairs.
- summarization: `seq2seq` on `manpage_summaries`; ROUGE-L beside the lead sentence (all held-out pages and
  the non-gcloud ones apart, since the gcloud SDK's reference pages are most of the corpus).
- classification: `bert_classifier` (MLM pretraining, then fine-tuning) on `gettext_languages` beside
  logistic regression on a bag of words (and, stronger, on character n-grams).
- chat: `gpt` pretrained on the train pages' text, then instruction-tuned on `manpage_chat` (loss on the
  answer only); answer ROUGE-L on held-out pages, tuned vs untuned.

Each trained row carries its learning curve (quality on a fixed validation subset vs wall-clock seconds).
- copy_ablation: the translation model with and without its copy head at one shorter budget.

Run: `PYTHONPATH=src python benchmarks/language_tasks.py --task translation --budget 900`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

import torch

import genzoo as gz

try:  # run as a script (benchmarks/ on sys.path) or as a module
    from common import RESULTS, Results
except ImportError:  # pragma: no cover
    from benchmarks.common import RESULTS, Results


class MergedResults(Results):
    """language_tasks.json shared by several runs: rows of the tasks this run does not own are kept, and with
    `append` also its own tasks' rows of systems it did not rerun (a variant beside the rows it is compared to)."""

    def __init__(self, name: str, owned: set[str], smoke: bool = False, append: bool = False) -> None:
        super().__init__(name, smoke)
        self.owned, self.append = owned, append

    def write(self) -> Any:
        path = RESULTS / f"{self.name}.json"
        mine = self.rows
        try:
            rerun = {(r["task"], r["system"]) for r in mine}
            old = [r for r in json.loads(path.read_text())["rows"]
                   if r["task"] not in self.owned or (self.append and (r["task"], r["system"]) not in rerun)]
        except (OSError, ValueError, KeyError):
            old = []
        self.rows = old + mine
        try:
            return super().write()
        finally:
            self.rows = mine


def subset(items: list[Any], n: int, key: Callable[[Any], str]) -> list[Any]:
    """A fixed subset of `n` items, chosen by a hash of each (stable when the list grows)."""
    return sorted(items, key=lambda x: hashlib.sha1(key(x).encode()).hexdigest())[:n]


def autocast_speedup(model: Any, batch: Any, steps: int = 8) -> float:
    """Training-step time in fp32 over bf16 autocast (this CPU has AVX512-BF16), after a warm-up."""
    opt = torch.optim.AdamW(model.parameters(), lr=0.0)
    times = {}
    for name, ctx in (("fp32", contextlib.nullcontext), ("bf16", lambda: torch.autocast("cpu", torch.bfloat16))):
        for i in range(steps + 2):
            if i == 2:
                start = time.perf_counter()
            with ctx():
                loss = model.loss(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        times[name] = (time.perf_counter() - start) / steps
    return times["fp32"] / times["bf16"]


def train_timed(
    model: Any,
    data: Any,
    seconds: float,
    evaluate: Callable[[], float],
    points: int = 6,
    lr: float = 1e-3,
    batch: int = 32,
    warmup: int = 200,
    bf16: bool = False,
    lengths: list[int] | None = None,
) -> tuple[str, list[list[float]]]:
    """AdamW with warm-up then cosine decay over the wall-clock budget; `evaluate` (not counted in the
    budget) at `points` evenly spaced times. Returns (what the budget bought, [[seconds, quality], ...]).

    With `lengths`, each batch is a random run of neighbours in length order (bucketed batching): short
    and long messages are not padded to each other, so the same seconds train on more examples."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    curve: list[list[float]] = []
    trained, steps, cpu = 0.0, 0, time.process_time()
    next_eval = seconds / points
    order = sorted(range(len(data)), key=lambda i: lengths[i]) if lengths else None
    while trained < seconds:
        t0 = time.perf_counter()
        frac = trained / seconds
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (steps + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        model.train()
        if order is None:
            idx = torch.randint(0, len(data), (batch,), generator=gen).tolist()
        else:
            start = int(torch.randint(0, max(1, len(order) - batch), (1,), generator=gen))
            idx = order[start : start + batch]
        with torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = model.loss(data.collate([data[i] for i in idx]))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        trained += time.perf_counter() - t0
        if trained >= next_eval or trained >= seconds:
            model.eval()
            curve.append([round(trained, 1), float(evaluate())])
            print(f"  {trained:7.1f} s  step {steps:6d}  loss {loss.item():.3f}  quality {curve[-1][1]:.4f}",
                  flush=True)
            next_eval += seconds / points
    return f"{steps} steps of {batch}, {time.process_time() - cpu:.0f} CPU-s", curve


# -- translation -------------------------------------------------------------------------------------------
WORD = re.compile(r"\w+|[^\w\s]")


def word_dictionary(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """English word -> the French word it co-occurs with best (Dice coefficient) in the training pairs;
    single-word messages count directly. The classic first baseline of statistical MT."""
    src_count: collections.Counter[str] = collections.Counter()
    tgt_count: collections.Counter[str] = collections.Counter()
    both: collections.Counter[tuple[str, str]] = collections.Counter()
    direct: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for s, t in pairs:
        sw, tw = set(WORD.findall(s.lower())), set(WORD.findall(t.lower()))
        if len(sw) > 12 or len(tw) > 12:
            continue
        src_count.update(sw)
        tgt_count.update(tw)
        both.update((a, b) for a in sw for b in tw)
        if len(sw) == 1 and len(tw) == 1:
            direct[next(iter(sw))][next(iter(tw))] += 1
    best: dict[str, tuple[float, str]] = {}
    for (a, b), n in both.items():
        score = 2 * n / (src_count[a] + tgt_count[b])
        if score > best.get(a, (0.0, ""))[0]:
            best[a] = (score, b)
    table = {a: b for a, (_, b) in best.items()}
    table.update({a: c.most_common(1)[0][0] for a, c in direct.items()})
    return table


def word_by_word(text: str, table: dict[str, str]) -> str:
    out = []
    for w in WORD.findall(text):
        t = table.get(w.lower(), w)
        out.append(t.capitalize() if w[:1].isupper() else t)
    return " ".join(out)


def run_translation(
    res: Results, budget: float, n_test: int, samples: list[str], smoke: bool, lr: float, bucket: bool
) -> None:
    from genzoo.metrics.text import bleu, chrf

    opts = {"max_chars": 160, "max_len": 96, "vocab_size": 4000}
    data = gz.data.load("gettext_pairs", **opts)
    val = gz.data.load("gettext_pairs", split="val", **opts)
    test = gz.data.load("gettext_pairs", split="test", **opts)
    facts = {k: data.info.extra[k] for k in ("catalogs", "catalogs_sha1", "programs")}
    pairs = subset(test.pairs, n_test, lambda p: p[0])
    val_pairs = subset(val.pairs, 40 if smoke else 150, lambda p: p[0])
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    torch.manual_seed(0)
    shape = {"d_model": 128, "n_head": 4, "enc_layers": 2, "dec_layers": 2, "dropout": 0.1}
    model = gz.create("seq2seq", data=data, copy=True, label_smoothing=0.1, **shape)
    speedup = autocast_speedup(model, data.collate([data[i] for i in range(32)]))
    res.add("cpu-bf16", "seq2seq-128x2", "bf16_autocast_speedup", speedup, True,
            "training step time fp32 / bf16 autocast, batch 32 gettext pairs, 1 thread, 8 steps after 2")
    torch.manual_seed(0)
    model = gz.create("seq2seq", data=data, copy=True, label_smoothing=0.1, **shape)

    def val_bleu() -> float:
        return bleu(model.transform([s for s, _ in val_pairs], max_new_tokens=80), [t for _, t in val_pairs])

    lengths = [len(s) + len(t) for s, t in data.pairs] if bucket else None
    bought, curve = train_timed(model, data, budget, val_bleu, lr=lr, batch=64, bf16=speedup > 1.25, lengths=lengths)
    model.eval()
    t0 = time.perf_counter()
    hyps = model.transform(sources, num_beams=4, max_new_tokens=80)
    beam_s = time.perf_counter() - t0
    greedy = model.transform(sources, max_new_tokens=80)
    table = word_dictionary(data.pairs)
    where = (f"{len(pairs)} pairs of {facts['programs']['test']} held-out programs "
             f"({facts['catalogs']} catalogs, list sha1 {facts['catalogs_sha1'][:12]})")
    tb = (f"{budget:.0f} s training ({bought}; 128x2+2, copy, label smoothing 0.1, BPE 4000, lr {lr:g}, "
          f"{'length-bucketed batches, ' if bucket else ''}bf16={speedup > 1.25}), beam 4 ({beam_s:.0f} s), {where}")
    systems = {
        "genzoo-seq2seq-beam4": (hyps, tb, curve),
        "genzoo-seq2seq-greedy": (greedy, tb.replace("beam 4", "greedy"), None),
        "copy-input": (sources, f"baseline: the English message unchanged; {where}", None),
        "word-by-word": ([word_by_word(s, table) for s in sources],
                         f"baseline: Dice-aligned word dictionary from {len(data)} train pairs; {where}", None),
    }
    for system, (out, what, lc) in systems.items():
        extra = {"learning_curve": {"x": "train seconds", "y": f"BLEU, {len(val_pairs)} val pairs greedy",
                                    "points": lc}} if lc else {}
        res.add("gettext_en_fr", system, "bleu", bleu(out, refs), True, what, **extra)
        res.add("gettext_en_fr", system, "chrf", chrf(out, refs), True, what)
    placeholders = re.compile(r"%[-+ #0-9.]*[a-zA-Z]|--?[a-z][-a-z]+")
    with_ph = [(s, h) for s, h in zip(sources, hyps) if placeholders.search(s)]
    kept = sum(sorted(placeholders.findall(s)) == sorted(placeholders.findall(h)) for s, h in with_ph)
    res.add("gettext_en_fr", "genzoo-seq2seq-beam4", "placeholders_kept", kept / max(1, len(with_ph)), True,
            f"share of the {len(with_ph)} test messages with %-placeholders or --options whose translation keeps "
            "exactly the same ones")
    samples.append("== translation en->fr (held-out programs), beam 4 ==")
    for s, h, r in list(zip(sources, hyps, refs))[:25]:
        samples += [f"EN:  {s}", f"OUT: {h}", f"REF: {r}", ""]


def run_copy_ablation(res: Results, budget: float, n_test: int, smoke: bool) -> None:
    """The same seq2seq with and without the copy head, same budget and batches: does copying help?"""
    from genzoo.metrics.text import bleu, chrf

    opts = {"max_chars": 160, "max_len": 96, "vocab_size": 4000}
    data = gz.data.load("gettext_pairs", **opts)
    test = gz.data.load("gettext_pairs", split="test", **opts)
    pairs = subset(test.pairs, n_test, lambda p: p[0])
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    shape = {"d_model": 128, "n_head": 4, "enc_layers": 2, "dec_layers": 2, "dropout": 0.1}
    for copy in (True, False):
        torch.manual_seed(0)
        model = gz.create("seq2seq", data=data, copy=copy, label_smoothing=0.1, **shape)
        lengths = [len(s) + len(t) for s, t in data.pairs]
        bought, _ = train_timed(model, data, budget, lambda: 0.0, points=1, lr=2e-3, batch=64, lengths=lengths)
        out = model.eval().transform(sources, max_new_tokens=80)
        what = (f"ablation: {budget:.0f} s training ({bought}; 128x2+2, copy={copy}, lr 2e-3, length-bucketed), "
                f"greedy, {len(pairs)} test pairs")
        res.add("gettext_en_fr_copy_ablation", f"seq2seq-copy={copy}", "bleu", bleu(out, refs), True, what)
        res.add("gettext_en_fr_copy_ablation", f"seq2seq-copy={copy}", "chrf", chrf(out, refs), True, what)


# -- summarisation -----------------------------------------------------------------------------------------
def run_summarization(
    res: Results, budget: float, samples: list[str], smoke: bool, lr: float, bucket: bool, max_chars: int
) -> None:
    from genzoo.data.text_tasks import first_sentence
    from genzoo.metrics.text import rouge_l

    opts = {"max_chars": max_chars, "max_len": 128, "vocab_size": 4000}
    data = gz.data.load("manpage_summaries", **opts)
    val = gz.data.load("manpage_summaries", split="val", **opts)
    test = gz.data.load("manpage_summaries", split="test", **opts)
    val_pairs = subset(val.pairs, 30 if smoke else 120, lambda p: p[0])
    torch.manual_seed(0)
    shape = {"d_model": 128, "n_head": 4, "enc_layers": 2, "dec_layers": 2, "dropout": 0.1}
    model = gz.create("seq2seq", data=data, copy=True, label_smoothing=0.1, **shape)

    def val_rouge() -> float:
        return rouge_l(model.transform([s for s, _ in val_pairs], max_new_tokens=40), [t for _, t in val_pairs])

    lengths = [len(s) + len(t) for s, t in data.pairs] if bucket else None
    bought, curve = train_timed(model, data, budget, val_rouge, lr=lr, batch=32, lengths=lengths)
    model.eval()
    pairs = test.pairs[:40] if smoke else test.pairs
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    hyps = model.transform(sources, num_beams=4, max_new_tokens=40)
    from genzoo.data.text_manpages import MAN_ROOT, pages_by_split

    pages = pages_by_split(MAN_ROOT)[0]["test"]  # in the order of test.pairs
    names = [name for name, _, _ in pages]
    lead = [first_sentence(d) for _, _, d in pages[: len(pairs)]]  # of the whole description, not the window
    plain = [i for i in range(len(pairs)) if not names[i].startswith("gcloud")]
    facts = f"{data.info.extra['pages_used']} pages used of {data.info.extra['pages_found']} found " \
            f"(list sha1 {data.info.extra['pages_sha1'][:12]})"
    tb = (f"{budget:.0f} s training ({bought}; 128x2+2, copy, BPE 4000, source {max_chars} chars, lr {lr:g}"
          f"{', length-bucketed batches' if bucket else ''}), beam 4; {facts}")
    for task, idx in (("manpage_summaries", list(range(len(pairs)))), ("manpage_summaries_non_gcloud", plain)):
        n = f"{len(idx)} held-out pages"
        extra = {"learning_curve": {"x": "train seconds", "y": f"ROUGE-L, {len(val_pairs)} val pages greedy",
                                    "points": curve}} if task == "manpage_summaries" else {}
        res.add(task, "genzoo-seq2seq-beam4", "rouge_l", rouge_l([hyps[i] for i in idx], [refs[i] for i in idx]),
                True, f"{tb}; {n}", **extra)
        res.add(task, "lead-sentence", "rouge_l", rouge_l([lead[i] for i in idx], [refs[i] for i in idx]), True,
                f"baseline: the description's first sentence; {n}")
    samples.append("== man page summaries (held-out pages), beam 4 ==")
    for i in plain[:15] + list(range(10)):
        samples += [f"DESC: {sources[i][:200]}", f"OUT:  {hyps[i]}", f"LEAD: {lead[i]}", f"REF:  {refs[i]}", ""]


# -- classification ----------------------------------------------------------------------------------------
def run_classification(
    res: Results, budget: float, samples: list[str], smoke: bool, mlm_share: float, lr: float, poolings: list[str],
    vocab_size: int = 4000,
) -> None:
    """Per pooling (one row each, side by side): MLM for `mlm_share` of the budget, fine-tuning for the rest;
    logistic regression on word and char n-gram tf-idf (scikit-learn) beside, on the same train messages.
    The samples are the last pooling's."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    opts = {"per_language": 200 if smoke else 3000, "max_len": 64, "vocab_size": vocab_size}
    data = gz.data.load("gettext_languages", **opts)
    mlm = gz.data.load("gettext_languages", objective="mlm", **opts)
    val = gz.data.load("gettext_languages", split="val", **opts)
    test = gz.data.load("gettext_languages", split="test", **opts)
    classes = data.info.classes
    val_idx = subset(list(range(len(val))), 300, str)

    def accuracy(model: Any, ds: Any, idx: list[int]) -> float:
        right = 0
        for start in range(0, len(idx), 256):
            chunk = idx[start : start + 256]
            ids = torch.stack([ds[i][0] for i in chunk])
            right += int((model.classify(ids).argmax(1) == torch.tensor([ds.labels[i] for i in chunk])).sum())
        return right / len(idx)

    idx = list(range(len(test)))
    where = (f"{len(test)} messages of held-out programs, {len(classes)} locales {','.join(classes)} "
             f"({data.info.extra['catalogs']} catalogs, list sha1 {data.info.extra['catalogs_sha1'][:12]})")
    for pool in poolings:
        torch.manual_seed(0)
        model = gz.create("bert_classifier", data=data, d_model=128, n_layer=2, n_head=4, dropout=0.1, pooling=pool)
        mlm_bought, _ = train_timed(model, mlm, mlm_share * budget, lambda: 0.0, points=1, lr=1e-3, batch=64)
        ft_bought, curve = train_timed(model, data, (1 - mlm_share) * budget,
                                       functools.partial(accuracy, model, val, val_idx), lr=lr, batch=64, warmup=50)
        model.eval()
        system = "genzoo-bert_classifier" + ("" if pool == "cls" else f"-{pool}")
        system += "" if vocab_size == 4000 else f"-bpe{vocab_size}"
        head = "[CLS] head" if pool == "cls" else "head on the mean of the token vectors"
        res.add("gettext_languages", system, "accuracy", accuracy(model, test, idx), True,
                f"2x128 BERT, {head}, BPE {vocab_size}: {mlm_share * budget:.0f} s MLM ({mlm_bought}) + "
                f"{(1 - mlm_share) * budget:.0f} s fine-tuning at lr {lr:g} ({ft_bought}), {len(data)} train "
                f"messages; {where}",
                learning_curve={"x": "fine-tuning seconds", "y": f"accuracy, {len(val_idx)} val messages",
                                "points": curve})
    for system, vec in (
        ("tfidf-words-logreg", TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)),
        ("tfidf-char1-4-logreg", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)),
    ):
        t0 = time.perf_counter()
        clf = LogisticRegression(max_iter=2000, C=10.0).fit(vec.fit_transform(data.texts), data.labels)
        acc = float((clf.predict(vec.transform(test.texts)) == torch.tensor(test.labels).numpy()).mean())
        kind = "bag of words" if "words" in system else "bag of character 1-4-grams (stronger than asked)"
        res.add("gettext_languages", system, "accuracy", acc, True,
                f"baseline: {kind}, tf-idf + logistic regression (C=10), fit in {time.perf_counter() - t0:.0f} s "
                f"on the same {len(data)} train messages; {where}")
    samples.append("== which locale is this message in (held-out programs) ==")
    probs = model.classify(torch.stack([test[i][0] for i in range(0, len(test), max(1, len(test) // 30))]))
    for j, i in enumerate(range(0, len(test), max(1, len(test) // 30))):
        samples.append(f"{classes[test.labels[i]]:>3} -> {classes[int(probs[j].argmax())]:>3}  {test.texts[i]}")
    samples.append("")


# -- chat --------------------------------------------------------------------------------------------------
def run_chat(res: Results, budget: float, samples: list[str], smoke: bool) -> None:
    """gpt pretrained on the train pages (60 % of the budget), a copy kept untuned, then supervised
    fine-tuning on the chat examples (40 %); both answer the same held-out prompts, greedy, ROUGE-L."""
    import copy
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from genzoo.data.text_manpages import MAN_ROOT, pages_by_split
    from genzoo.data.tokenizers import EOS
    from genzoo.generation import GenerationConfig
    from genzoo.metrics.text import rouge_l

    lm = gz.data.load("manpage_chat", objective="lm", block_size=128)
    sft = gz.data.load("manpage_chat", block_size=128)
    test = gz.data.load("manpage_chat", split="test", block_size=128)
    val = gz.data.load("manpage_chat", split="val", block_size=128)
    n_test = 40 if smoke else 300
    test_idx = subset(list(range(len(test))), n_test, lambda i: test.prompts[i])
    val_idx = subset(list(range(len(val))), 20 if smoke else 60, lambda i: val.prompts[i])
    config = GenerationConfig(do_sample=False, max_new_tokens=32, eos_token_id=EOS, stop_strings=("\n",))

    def answers(model: Any, ds: Any, idx: list[int]) -> list[str]:
        model.eval()
        return [model.generate_text(ds.prompts[i], config).strip() for i in idx]

    def score(model: Any, ds: Any, idx: list[int]) -> float:
        return rouge_l(answers(model, ds, idx), [ds.answers[i] for i in idx])

    torch.manual_seed(0)
    model = gz.create("gpt", data=lm, context_length=128, n_layer=4, n_head=4, d_model=128, dropout=0.0)
    pre_bought, pre_curve = train_timed(model, lm, 0.6 * budget, lambda: score(model, val, val_idx), points=3,
                                        batch=32)
    untuned = copy.deepcopy(model)
    sft_bought, sft_curve = train_timed(model, sft, 0.4 * budget, lambda: score(model, val, val_idx), points=4,
                                        lr=5e-4, batch=32, warmup=50)
    gold = [test.answers[i] for i in test_idx]
    tuned_out, untuned_out = answers(model, test, test_idx), answers(untuned, test, test_idx)
    names = [n for n, _, _ in pages_by_split(MAN_ROOT)[0]["test"]]
    where = f"{len(test_idx)} held-out pages ('What does X do?', page's first 300 chars in the prompt), greedy"
    shape = "4x128 GPT, BPE 4000, context 128"
    res.add("manpage_chat", "genzoo-gpt-sft", "rouge_l", rouge_l(tuned_out, gold), True,
            f"{shape}: {0.6 * budget:.0f} s pretraining ({pre_bought}) + {0.4 * budget:.0f} s SFT ({sft_bought}), "
            f"loss on answers only; {where}",
            learning_curve={"x": "train seconds (pretraining, then SFT from its end)",
                            "y": f"ROUGE-L, {len(val_idx)} val pages",
                            "points": pre_curve + [[pre_curve[-1][0] + t, q] for t, q in sft_curve]})
    res.add("manpage_chat", "genzoo-gpt-untuned", "rouge_l", rouge_l(untuned_out, gold), True,
            f"{shape}: the same run before SFT ({0.6 * budget:.0f} s pretraining only), same prompts; {where}")
    from genzoo.data.text_tasks import first_sentence

    lead = [first_sentence(test.prompts[i].split("\n")[0].removeprefix("Page: ")) for i in test_idx]
    res.add("manpage_chat", "page-lead-sentence", "rouge_l", rouge_l(lead, gold), True,
            f"reference point, not a chat model: the first sentence of the page in the prompt; {where}")
    samples.append("== chat: 'What does X do?' on held-out pages (greedy) ==")
    for j, i in enumerate(test_idx[:20]):
        samples += [f"Q: What does {names[i]} do?", f"SFT:     {tuned_out[j]}", f"UNTUNED: {untuned_out[j]}",
                    f"GOLD:    {gold[j]}", ""]
    with tempfile.TemporaryDirectory() as tmp:  # a multi-turn conversation through the CLI, piped
        gz.save(model, Path(tmp) / "chat")
        page = test.prompts[test_idx[0]].split("\n")[0]
        name = names[test_idx[0]]
        turns = f"What does {name} do?\nWhat does {name} do?\n/reset\nWhat does ls do?\n"
        out = subprocess.run([sys.executable, "-m", "genzoo.cli", "chat", str(Path(tmp) / "chat"), "--system", page,
                              "--greedy", "--max-new-tokens", "32"], input=turns, capture_output=True, text=True,
                             check=False)
        samples += ["== genzoo chat, piped (system = the page) ==", f"$ genzoo chat RUN --system '{page[:60]}...'",
                    *[f"> {t}" for t in turns.splitlines()], out.stdout.strip(), out.stderr.strip()[-500:], ""]


def main() -> None:
    parser = argparse.ArgumentParser()
    tasks = ["translation", "copy_ablation", "summarization", "classification", "chat"]
    parser.add_argument("--task", required=True, choices=tasks)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of training (per stage)")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out translation pairs to score")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (translation, summarization)")
    parser.add_argument("--bucket", action="store_true", help="length-bucketed batches (translation, summarization)")
    parser.add_argument("--max-chars", type=int, default=400, help="summarization: description characters read")
    parser.add_argument("--mlm-share", type=float, default=0.4, help="classification: share of the budget for MLM")
    parser.add_argument("--pooling", default="cls,mean", help="classification: BERT heads to run, comma list")
    parser.add_argument("--append", action="store_true", help="keep the owned tasks' rows of systems not rerun")
    parser.add_argument("--vocab-size", type=int, default=4000, help="classification: BPE vocabulary size")
    parser.add_argument("--smoke", action="store_true", help="10 s budgets, few test items, a temporary file")
    args = parser.parse_args()
    if args.smoke:
        args.budget, args.n_test = 10.0, 40
    torch.set_num_threads(1)
    owned = {"translation": {"gettext_en_fr", "cpu-bf16"}, "copy_ablation": {"gettext_en_fr_copy_ablation"},
             "summarization": {"manpage_summaries", "manpage_summaries_non_gcloud"},
             "classification": {"gettext_languages"}, "chat": {"manpage_chat"}}[args.task]
    res = MergedResults("language_tasks", owned, smoke=args.smoke, append=args.append)
    samples: list[str] = []
    if args.task == "translation":
        run_translation(res, args.budget, args.n_test, samples, args.smoke, args.lr, args.bucket)
    elif args.task == "copy_ablation":
        run_copy_ablation(res, args.budget, args.n_test, args.smoke)
    elif args.task == "summarization":
        run_summarization(res, args.budget, samples, args.smoke, args.lr, args.bucket, args.max_chars)
    elif args.task == "classification":
        run_classification(res, args.budget, samples, args.smoke, args.mlm_share, args.lr, args.pooling.split(","),
                           args.vocab_size)
    else:
        run_chat(res, args.budget, samples, args.smoke)
    if samples:
        res.file(f"language_tasks_samples_{args.task}.txt").write_text("\n".join(samples) + "\n")
    print(f"wrote {res.write()}")


if __name__ == "__main__":
    main()
