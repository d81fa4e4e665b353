"""Music from two corpora: every music model on the Bach chorales and on Palestrina (music21's corpus), judged
by held-out likelihood, by how close its samples keep to the corpus's pitch classes, and by `--bars`.

Data: `genzoo.data.load("music", composer=...)` (`genzoo.data.music_sources`), the first LIMIT files of each
composer's folder by path (Bach: the chorales' MusicXML and a few kern/XML scores), split every 10th piece
test, every 10th + 1 val, the rest train.
Per corpus and model (music_lstm, music_gpt on events; pianoroll_lstm on 16th-note piano-rolls), trained
with Adam for a wall-clock budget on one thread:
- nll_per_event / nll_per_frame on the whole held-out pieces, beside the unigram event / independent
  Bernoulli-per-key baselines, and a learning curve (held-out NLL vs wall-clock seconds) in the row;
- pitch_class_kl: KL(held-out histogram || generated histogram) of duration-weighted pitch classes,
  N_SAMPLES pieces x 8 bars at temperature 1 (and 0.8), beside the unigram event sampler's
  (`genzoo.metrics.music`), the same number of pieces and bars; the real train-vs-test KL is the floor; and,
  for event models, the same samples decoded without the longest-note cap;
- bars_written: `genzoo compose --bars 8` through the CLI, the MIDI's length in bars of the corpus's meter as
  music21's MIDI reader counts it (`genzoo.metrics.music.midi_bars`; should be 8.0, for every model);
- the issue's case: the chorales model's samples scored against Palestrina (what a user got when
  `-d composer=palestrina` was silently ignored).
Run: python benchmarks/music_corpus.py (about 10 minutes on one CPU thread)
(~9 min on one busy core, parsing included; `--smoke` runs in a minute into music_corpus_smoke.json).
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402
from music import bernoulli_frame_nll, event_nll, frame_nll, unigram_event_nll  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.cli import main as cli  # noqa: E402
from genzoo.data import music as mu  # noqa: E402
from genzoo.metrics.music import midi_bars, music_stats, pitch_class_kl, unigram_pieces  # noqa: E402

SECONDS = 45  # wall-clock training budget per model
LIMIT = 100  # files per corpus
BATCH = 16
CURVE_POINTS = 5
N_SAMPLES = 8  # composed pieces per model: a pooled histogram of a few pieces, each in its own key, is noisy
MODELS = {
    "music_lstm": ("events", {"embed": 64, "hidden": 256, "layers": 1, "dropout": 0.1}, 3e-3),
    "music_gpt": ("events", {"context_length": 128, "n_layer": 2, "n_head": 4, "d_model": 128, "dropout": 0.1}, 2e-3),
    "pianoroll_lstm": ("pianoroll", {"hidden": 256, "layers": 1, "dropout": 0.1}, 3e-3),
}
CORPORA = {"chorales": "bach", "palestrina": "palestrina"}


def train_with_curve(model: torch.nn.Module, data: Any, seconds: float, lr: float,
                     held_out: Callable[[], float]) -> tuple[int, list[list[float]]]:
    """Adam with clipping for `seconds` of training (evaluation time not counted); returns the steps taken
    and [seconds, held-out NLL] at CURVE_POINTS evenly spaced moments."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=len(data) >= BATCH)
    steps, trained, curve = 0, 0.0, []
    marks = [seconds * (i + 1) / CURVE_POINTS for i in range(CURVE_POINTS)]
    while marks:
        for batch in loader:
            model.train()
            t = time.perf_counter()
            loss = model.loss(batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            trained += time.perf_counter() - t
            steps += 1
            if trained >= marks[0]:
                model.eval()
                curve.append([round(trained, 1), held_out()])
                marks.pop(0)
                if not marks:
                    break
    model.eval()
    return steps, curve


def bars_written(model: Any, bars: int) -> float:
    """`genzoo compose --bars` on the saved model; the MIDI's length in bars as music21's MIDI reader sees it."""
    with tempfile.TemporaryDirectory() as tmp:
        gz.save(model, Path(tmp) / "run")
        out = Path(tmp) / "c.mid"
        if cli(["compose", str(Path(tmp) / "run"), "--bars", str(bars), "--no-wav", "-o", str(out)]) != 0:
            return float("nan")
        return midi_bars(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="12 files per corpus, 3 s per model")
    args = parser.parse_args()
    global SECONDS, LIMIT
    if args.smoke:
        SECONDS, LIMIT = 3, 12
    torch.set_num_threads(1)
    res = Results("music_corpus", smoke=args.smoke)
    tests: dict[str, list] = {}
    samples_of_chorales_lstm: list = []
    for corpus, composer in CORPORA.items():
        t = time.perf_counter()
        splits = {s: gz.data.load("music", split=s, composer=composer, limit=LIMIT, seq_len=128)
                  for s in ("train", "test")}
        info = splits["train"].info.extra
        print(f"{corpus}: {info['pieces']} pieces from {info['files']} files in {time.perf_counter() - t:.0f}s "
              f"({info['file_list_checksum'][:19]}, {info['time_signature']})", flush=True)
        train = [n for _, n in splits["train"].pieces]
        test_pieces = splits["test"].pieces
        test = [n for _, n in test_pieces]
        tests[corpus] = test
        real = music_stats(test)
        meter = info["time_signature"]
        data_note = (f"{len(train)} train / {len(test)} test pieces, {info['files']} files "
                     f"({info['file_list_checksum'][:19]}), meter {meter[0]}/{meter[1]}")
        bar = mu.bar_steps(splits["train"].info)
        res.add(corpus, "real_train_vs_test", "pitch_class_kl", pitch_class_kl(music_stats(train), real), False,
                "reference floor: real train pieces vs real test pieces; " + data_note)
        unigram = music_stats(unigram_pieces(train, N_SAMPLES, 8 * bar))
        res.add(corpus, "unigram", "pitch_class_kl", pitch_class_kl(unigram, real), False,
                f"unigram event sampler fit on train, {N_SAMPLES} pieces x 8 bars; " + data_note)
        res.add(corpus, "unigram", "nll_per_event", unigram_event_nll(splits["train"].pieces, test_pieces), False,
                data_note)
        res.add(corpus, "bernoulli_per_key", "nll_per_frame", bernoulli_frame_nll(splits["train"].pieces, test_pieces),
                False, data_note)
        share = real["pitch_class_hist"][1] + real["pitch_class_hist"][3]
        for name, (representation, options, lr) in MODELS.items():
            data = gz.data.load("music", split="train", composer=composer, limit=LIMIT, seq_len=128,
                                representation=representation)
            torch.manual_seed(0)
            model = gz.create(name, data=data, **options)
            score = event_nll if representation == "events" else frame_nll
            steps, curve = train_with_curve(model, data, SECONDS, lr, functools.partial(score, model, test_pieces))
            budget = f"{SECONDS}s training wall ({steps} steps x batch {BATCH} x 128), 1 thread; {data_note}"
            metric = "nll_per_event" if representation == "events" else "nll_per_frame"
            res.add(corpus, name, metric, curve[-1][1], False, budget, learning_curve=curve)
            for temperature in (1.0, 0.8):
                torch.manual_seed(0)
                pieces = model.compose(N_SAMPLES, 8, None, temperature)
                stats = music_stats(pieces)
                hist = np.array(stats["pitch_class_hist"])
                system = name if temperature == 1.0 else f"{name} T=0.8"
                res.add(corpus, system, "pitch_class_kl", pitch_class_kl(stats, real), False,
                        f"{N_SAMPLES} samples x 8 bars, temperature {temperature}, vs test pieces; {budget}")
                res.add(corpus, system, "csharp_eb_share", float(hist[1] + hist[3]), False,
                        f"share of sounding time on C# and Eb in the samples (test pieces: {share:.4f})")
                if temperature == 1.0 and corpus == "chorales" and name == "music_lstm":
                    samples_of_chorales_lstm = pieces
                if temperature == 1.0 and name == "music_lstm":
                    mu.write_midi(pieces[0], res.file(f"music_corpus_{corpus}_sample.mid"), length=8 * bar,
                                  time_signature=tuple(meter))
            if representation == "events":  # the same samples decoded without the longest-note cap
                torch.manual_seed(0)
                uncapped_info = copy.deepcopy(model.data_info)
                uncapped_info.extra.pop("max_note_steps", None)
                raw = mu.compose_from_events(model.sample, N_SAMPLES, 8, None, 1.0, uncapped_info)
                res.add(corpus, f"{name} no note cap", "pitch_class_kl", pitch_class_kl(music_stats(raw), real), False,
                        "the temperature-1 samples above, decoded with notes held until their NOTE_OFF or the end")
            res.add(corpus, name, "bars_written", bars_written(model, 8), False,
                    "genzoo compose --bars 8 through the CLI; MIDI length in bars, music21's MIDI reader (want 8)")
    if samples_of_chorales_lstm and "palestrina" in tests:
        res.add("palestrina", "music_lstm trained on chorales", "pitch_class_kl",
                pitch_class_kl(music_stats(samples_of_chorales_lstm), music_stats(tests["palestrina"])), False,
                "the issue's case: -d composer=palestrina ignored, a Bach model judged against Palestrina")
    print(f"wrote {res.write()}")


if __name__ == "__main__":
    main()
