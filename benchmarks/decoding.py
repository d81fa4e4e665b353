"""Decoding benchmark: how fast every token model generates through the decoding core, beside HF
transformers' GPT-2 `generate` (same shape, same thread) and, with `--before COMMIT`, beside the same
measurements on an earlier genzoo (its `src/` exported with `git archive`), so a change to the core shows
whether it got slower.

Rows (benchmarks/results/decoding.json), each the median of interleaved repeats in separate processes
(system A, B, A, B, ...), 1 thread, fp32, random weights (speed does not depend on training):
- gpt-6x384 (nanoGPT shakespeare_char shape, context 256): gen_tokens_per_s, batch 1, greedy, KV cache,
  239 new tokens after a 17-token prompt; the same with sampling (temperature, top-k, top-p, repetition
  penalty), with batch 8, and with 4 beams.
- char_rnn (LSTM 2x256), music_lstm, music_gpt: tokens per second of `sample`.
- wavenet (32 channels, 2 stacks of 8 layers): audio samples per second of `sample`.
- vqvae prior (7x7 tokens) and dalle (2x128 GPT, guidance 3): images per second of `sample`.

Run: `PYTHONPATH=src python benchmarks/decoding.py [--before c1574ee] [--repeats 3] [--smoke]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

try:  # run as a script (benchmarks/ on sys.path) or as a module
    from common import Results
except ImportError:  # pragma: no cover
    from benchmarks.common import Results

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "The for statement"  # 17 byte tokens


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _gpt(smoke: bool) -> Any:
    import genzoo as gz

    torch.manual_seed(0)
    shape = dict(n_layer=2, n_head=2, d_model=64) if smoke else dict(n_layer=6, n_head=6, d_model=384)
    return gz.create("gpt", context_length=256, **shape).eval()


def _gpt_rate(smoke: bool, batch: int = 1, **generation: Any) -> float:
    from genzoo.generation import GenerationConfig, generate

    model = _gpt(smoke)
    prompt = torch.tensor([model.tokenizer.encode(PROMPT)]).expand(batch, -1)
    new = 256 - prompt.shape[1] if not smoke else 40
    config = GenerationConfig(max_new_tokens=new, **generation)
    with torch.no_grad():
        generate(model, prompt, config.updated(max_new_tokens=8))  # warm-up
        seconds, out = _timed(lambda: generate(model, prompt, config))
    return batch * (out.shape[1] - prompt.shape[1]) / seconds


def _hf_rate(smoke: bool) -> float:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    shape = dict(n_layer=2, n_head=2, n_embd=64) if smoke else dict(n_layer=6, n_head=6, n_embd=384)
    cfg = GPT2Config(vocab_size=261, n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=1, eos_token_id=2, **shape)
    model = GPT2LMHeadModel(cfg).eval()
    prompt = torch.randint(5, 261, (1, len(PROMPT)))
    new = 256 - prompt.shape[1] if not smoke else 40

    def run(n: int) -> Any:
        return model.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                              pad_token_id=0, eos_token_id=None)

    with torch.no_grad():
        run(8)
        seconds, out = _timed(lambda: run(new))
    return (out.shape[1] - prompt.shape[1]) / seconds


def _sample_rate(name: str, smoke: bool) -> float:
    """Units of `sample` output per second: tokens (LMs, music), audio samples (wavenet), images."""
    import genzoo as gz

    torch.manual_seed(0)
    if name == "char_rnn":
        model = gz.create("char_rnn", hidden=64 if smoke else 256, n_layer=2).eval()
        steps = 40 if smoke else 239
        seconds, out = _timed(lambda: model.sample(1, prompt=PROMPT, max_new_tokens=steps))
        return (out.shape[1] - len(PROMPT)) / seconds
    if name in ("music_lstm", "music_gpt"):
        small = dict(hidden=32) if name == "music_lstm" else dict(n_layer=2, d_model=32, n_head=2)
        model = gz.create(name, **(small if smoke else {})).eval()
        steps = 40 if smoke else 512
        model.sample(1, steps=4)
        seconds, out = _timed(lambda: model.sample(4, steps=steps, top_k=20))
        return 4 * (out.shape[1] - 1) / seconds
    if name == "wavenet":
        model = gz.create("wavenet", **(dict(layers_per_stack=4, channels=8) if smoke else {})).eval()
        length = 100 if smoke else 2000
        seconds, out = _timed(lambda: model.sample(1, length))
        return out.shape[1] / seconds
    vq = gz.create("vqvae", image_shape=(1, 28, 28), **(dict(hidden=8) if smoke else {})).eval()
    if name == "vqvae":
        vq.sample(2)
        seconds, _ = _timed(lambda: vq.sample(64))
        return 64 / seconds
    if name == "dalle":
        with tempfile.TemporaryDirectory() as tmp:
            gz.save(vq, Path(tmp) / "vq")
            shape = dict(n_layer=1, d_model=32) if smoke else dict(n_layer=2, d_model=128)
            model = gz.create("dalle", tokens_of=str(Path(tmp) / "vq"), **shape).eval()
        model.sample(1, prompt="a large 3", seed=0)
        seconds, _ = _timed(lambda: model.sample(8, prompt="a large 3", guidance_scale=3.0, seed=0))
        return 8 / seconds
    raise ValueError(name)


MEASURES: dict[str, tuple[str, str, str, Callable[[bool], float]]] = {
    # name: (task, metric, budget, measure)
    "gpt_greedy": ("gpt-6x384", "gen_tokens_per_s", "batch 1, greedy, KV cache, 239 new tokens",
                   lambda s: _gpt_rate(s, do_sample=False)),
    "gpt_sample": ("gpt-6x384", "gen_tokens_per_s_sampled",
                   "batch 1, temperature 0.8, top-k 50, top-p 0.9, repetition penalty 1.1, 239 new tokens",
                   lambda s: _gpt_rate(s, temperature=0.8, top_k=50, top_p=0.9, repetition_penalty=1.1, seed=0)),
    "gpt_batch8": ("gpt-6x384", "gen_tokens_per_s_batch8", "batch 8, sampling (top-p 0.9), 239 new tokens",
                   lambda s: _gpt_rate(s, batch=8, top_p=0.9, seed=0)),
    "gpt_beams": ("gpt-6x384", "gen_tokens_per_s_beam4", "batch 1, 4 beams, 239 new tokens",
                  lambda s: _gpt_rate(s, do_sample=False, num_beams=4)),
    "char_rnn": ("char_rnn-2x256", "gen_tokens_per_s", "batch 1, sampling, 239 new tokens",
                 lambda s: _sample_rate("char_rnn", s)),
    "music_lstm": ("music_lstm", "gen_tokens_per_s", "sample(4, steps=512, top_k=20)",
                   lambda s: _sample_rate("music_lstm", s)),
    "music_gpt": ("music_gpt-4x128", "gen_tokens_per_s", "sample(4, steps=512, top_k=20), context 256 (slides)",
                  lambda s: _sample_rate("music_gpt", s)),
    "wavenet": ("wavenet-32x16", "gen_samples_per_s", "sample(1, 2000), receptive field 511",
                lambda s: _sample_rate("wavenet", s)),
    "vqvae": ("vqvae-prior-7x7", "images_per_s", "sample(64): 49 prior tokens each, then decoding",
              lambda s: _sample_rate("vqvae", s)),
    "dalle": ("dalle-2x128", "images_per_s", "sample(8), guidance 3 (2 x 8 rows), 49 image tokens each",
              lambda s: _sample_rate("dalle", s)),
}


def measure_in_child(name: str, src: Path, smoke: bool, hf: bool = False) -> float:
    """Run one measurement in a fresh process with genzoo from `src` (one thread)."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", name] + (["--smoke"] if smoke else [])
    cmd += ["--hf"] if hf else []
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"{name} ({src}) failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["value"])


def export(commit: str, into: Path) -> Path:
    """`src/` of `commit`, exported from this repository with `git archive`."""
    archive = into / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", help="an earlier commit to measure beside this tree (e.g. c1574ee)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="*", choices=sorted(MEASURES), help="a subset of the measurements")
    p.add_argument("--smoke", action="store_true", help="tiny shapes, one repeat: seconds")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    p.add_argument("--hf", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.measure:
        value = _hf_rate(args.smoke) if args.hf else MEASURES[args.measure][3](args.smoke)
        print(json.dumps({"value": value}))
        return
    if args.smoke:  # tiny shapes, this tree only, in this process: a check that every row still runs
        res = Results("decoding_smoke")
        for name in args.only or MEASURES:
            task, metric, budget, measure = MEASURES[name]
            res.add(task, "genzoo", metric, measure(True), True, f"smoke shapes; {budget}, 1 thread")
        res.add("gpt-6x384", "transformers", "gen_tokens_per_s", _hf_rate(True), True, "smoke shapes, 1 thread")
        print(f"wrote {res.write()}")
        return
    res = Results("decoding")
    with tempfile.TemporaryDirectory() as tmp:
        systems: dict[str, tuple[Path, bool]] = {"genzoo": (ROOT / "src", False)}
        if args.before:
            systems[f"genzoo@{args.before}"] = (export(args.before, Path(tmp)), False)
        for name in args.only or MEASURES:
            task, metric, budget, _ = MEASURES[name]
            runs = dict(systems)
            if name == "gpt_greedy":
                runs["transformers"] = (ROOT / "src", True)
            values: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(args.repeats):
                for system, (src, hf) in runs.items():
                    values[system].append(measure_in_child(name, src, False, hf))
            full = f"{budget}, 1 thread, fp32, median of {args.repeats} interleaved runs"
            for system, v in values.items():
                res.add(task, system, metric, statistics.median(v), True, full, runs=v)
    print(f"wrote {res.write()}")


if __name__ == "__main__":
    main()
