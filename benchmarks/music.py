"""Music benchmark: event LSTM, event transformer and piano-roll LSTM on the music21 Bach chorales, with
simple baselines.

Split: music21's MusicXML Bach chorales sorted by name, every 10th test, every 10th + 1 val, rest train
(`genzoo.data.music`). This is NOT the JSB Chorales split of Boulanger-Lewandowski et al. (2012), and our
frames are 16th notes rather than JSB's quarter notes, so nll_per_frame here is not comparable with the
TCN paper's table (LSTM 8.45, TCN 8.10 nats per quarter-note frame); 16th-note frames repeat their
neighbours far more often and are much easier to predict.
Metrics on the whole test pieces: nats per event / per frame (the baselines are the train-set unigram
distribution of events and an independent Bernoulli per key). Samples: 8 pieces of 8 bars per model,
compared with the test chorales by pitch-class histogram L1, notes per bar, polyphony and range; the
train-vs-test distance of real chorales is the floor. One MIDI per model is saved beside the JSON, and the
event model's also as WAV (`genzoo.apps.music.render_wav`: fluidsynth if installed, else genzoo's additive
synthesizer).
The event transformer (`music_gpt`, 2 layers x 128 wide, context 128: 0.43M parameters, as many as the
event LSTM's 0.42M) gets the event LSTM's budget (300 s wall, batch 16 x 128 events, 1 thread); whole test
pieces longer than its context are scored with strided windows (`MusicGPT.log_prob`), every event once with
at least 64 events before it.
Run: PYTHONPATH=src python benchmarks/music.py   (~12 min on 2 busy CPU cores; the first run also parses
the corpus with music21, several minutes, cached afterwards). `--part lstm` runs only the two LSTMs,
`--part transformer` only the transformer, replacing its rows in the existing music.json and keeping the rest.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.forecast import torch_threads  # noqa: E402
from genzoo.apps.music import compose as _compose  # noqa: E402
from genzoo.apps.music import render_wav  # noqa: E402
from genzoo.data import music as mu  # noqa: E402
from genzoo.metrics.music import music_stats, stats_distance  # noqa: E402

T = TypeVar("T")
TRAIN_SECONDS = 300  # wall-clock training budget per model
LIMIT = 200  # the first 200 chorales by file name (parsing all 408 with music21 takes ~20 min on a busy CPU)
BATCH = 16
WAV_RATE = 8000  # keeps the rendered 8-bar sample under 400 KB


def single_threaded(fn: Callable[..., T]) -> Callable[..., T]:
    """Run `fn` with one intra-op thread: small sequential LSTMs are fastest so (and far faster on a busy
    machine); the setting is restored afterwards so the results file still names the machine's cores."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with torch_threads(1):
            return fn(*args, **kwargs)

    return wrapper


@single_threaded
def train_for(model: torch.nn.Module, data: torch.utils.data.Dataset, seconds: float, lr: float) -> int:
    """Adam with gradient clipping for a wall-clock budget; returns the number of steps taken."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=True)
    model.train()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in loader:
            loss = model.loss(batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
    model.eval()
    return steps


@single_threaded
@torch.no_grad()
def event_nll(model: torch.nn.Module, pieces: list) -> float:
    """Nats per predicted event over whole test pieces (BOS given, EOS scored)."""
    total, count = 0.0, 0
    for _, notes in pieces:
        seq = torch.tensor([[mu.BOS, *mu.notes_to_events(notes), mu.EOS]])
        total -= model.log_prob(seq).item()
        count += seq.shape[1] - 1
    return total / count


@single_threaded
@torch.no_grad()
def frame_nll(model: torch.nn.Module, pieces: list) -> float:
    """Nats per 16th-note frame over whole test pieces (the first frame predicted from an empty one)."""
    total, count = 0.0, 0
    for _, notes in pieces:
        roll = torch.from_numpy(np.concatenate([np.zeros((1, 88), np.float32), mu.notes_to_roll(notes)]))[
            None
        ]
        total -= model.log_prob(roll).item()
        count += roll.shape[1] - 1
    return total / count


compose = single_threaded(_compose)


def unigram_event_nll(train: list, test: list) -> float:
    counts = np.ones(mu.VOCAB_SIZE)
    for _, n in train:
        np.add.at(counts, [*mu.notes_to_events(n), mu.EOS], 1)
    logp = np.log(counts / counts.sum())
    toks = [t for _, n in test for t in [*mu.notes_to_events(n), mu.EOS]]
    return float(-np.mean(logp[toks]))


def bernoulli_frame_nll(train: list, test: list) -> float:
    rolls = np.concatenate([mu.notes_to_roll(n) for _, n in train])
    p = (rolls.sum(0) + 1) / (len(rolls) + 2)
    test_rolls = np.concatenate([mu.notes_to_roll(n) for _, n in test])
    return float(-np.mean((test_rolls * np.log(p) + (1 - test_rolls) * np.log(1 - p)).sum(1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "lstm", "transformer"), default="all")
    parser.add_argument("--smoke", action="store_true", help="seconds: 12 chorales, 3 s of training per model")
    args = parser.parse_args()
    part = args.part
    if args.smoke:
        global TRAIN_SECONDS, LIMIT
        TRAIN_SECONDS, LIMIT = 3, 12
    torch.manual_seed(0)
    res = Results("music", smoke=args.smoke)
    path = RESULTS / "music.json"
    # --part transformer keeps the LSTM rows and replaces an earlier transformer run
    if part == "transformer" and path.is_file() and not args.smoke:
        res.rows = [r for r in json.loads(path.read_text())["rows"] if r["system"] != "genzoo-transformer"]
    t = time.perf_counter()
    pieces = mu.load_chorales(LIMIT)
    print(f"{len(pieces)} chorales loaded in {time.perf_counter() - t:.0f}s", flush=True)
    train, test = mu.split_pieces(pieces, "train"), mu.split_pieces(pieces, "test")
    real = music_stats([n for _, n in test])
    floor = stats_distance(music_stats([n for _, n in train]), real)
    split = f"{len(train)} train / {len(test)} test chorales"
    events = mu.ChoraleEvents(train, seq_len=128)
    if part in ("all", "transformer"):
        event_transformer(res, events, test, real, split)
    if part in ("all", "lstm"):
        lstms(res, events, train, test, real, floor, split)


def event_transformer(res: Results, events: mu.ChoraleEvents, test: list, real: dict, split: str) -> None:
    """music_gpt at the event LSTM's budget: NLL per event, a MIDI sample, statistics of 8 samples."""
    torch.manual_seed(0)
    model = gz.create("music_gpt", data=events, context_length=128, n_layer=2, n_head=4, d_model=128, dropout=0.1)
    steps = train_for(model, events, TRAIN_SECONDS, 2e-3)
    budget = f"{TRAIN_SECONDS}s wall ({steps} steps x batch {BATCH} x 128 events), 1 thread; {split}"
    task, system = "chorales-events", "genzoo-transformer"
    res.add(task, system, "nll_per_event", event_nll(model, test), False, budget)
    pieces = compose(model, bars=8, n=8, temperature=1.0, seed=0)
    mu.write_midi(pieces[0], res.file("music_transformer_sample.mid"))
    for metric, value in stats_distance(music_stats(pieces), real).items():
        res.add(task, system, metric, value, False, "8 samples x 8 bars vs test chorales")


def lstms(res: Results, events: mu.ChoraleEvents, train: list, test: list, real: dict, floor: dict, split: str) -> None:
    """The event LSTM and the piano-roll LSTM with their baselines, sample statistics and the real floor."""
    model = gz.create("music_lstm", data=events, embed=64, hidden=256, layers=1, dropout=0.1)
    steps = train_for(model, events, TRAIN_SECONDS, 3e-3)
    budget = f"{TRAIN_SECONDS}s wall ({steps} steps x batch {BATCH} x 128 events), 1 thread; {split}"
    res.add("chorales-events", "genzoo", "nll_per_event", event_nll(model, test), False, budget)
    res.add("chorales-events", "unigram", "nll_per_event", unigram_event_nll(train, test), False, split)
    event_pieces = compose(model, bars=8, n=8, temperature=1.0, seed=0)
    mu.write_midi(event_pieces[0], res.file("music_events_sample.mid"))
    render_wav(res.file("music_events_sample.mid"), res.file("music_events_sample.wav"), rate=WAV_RATE)

    rolls = mu.ChoraleRolls(train, seq_len=128)
    roll_model = gz.create("pianoroll_lstm", data=rolls, hidden=256, layers=1, dropout=0.1)
    steps = train_for(roll_model, rolls, TRAIN_SECONDS, 3e-3)
    budget = f"{TRAIN_SECONDS}s wall ({steps} steps x batch {BATCH} x 128 frames), 1 thread; {split}"
    res.add("chorales-pianoroll16", "genzoo", "nll_per_frame", frame_nll(roll_model, test), False, budget)
    res.add(
        "chorales-pianoroll16",
        "bernoulli_per_key",
        "nll_per_frame",
        bernoulli_frame_nll(train, test),
        False,
        split,
    )
    roll_pieces = compose(roll_model, bars=8, n=8, temperature=1.0, seed=0)
    mu.write_midi(roll_pieces[0], res.file("music_pianoroll_sample.mid"))

    for task, system, samples in (
        ("chorales-events", "genzoo", event_pieces),
        ("chorales-pianoroll16", "genzoo", roll_pieces),
    ):
        dist = stats_distance(music_stats(samples), real)
        for metric, value in dist.items():
            res.add(task, system, metric, value, False, "8 samples x 8 bars vs test chorales")
    for metric, value in floor.items():
        res.add("chorales", "real_train_vs_test", metric, value, False, "reference: real vs real")


if __name__ == "__main__":
    main()
