"""Music from two corpora: every music model on the Bach chorales and on Palestrina (music21's corpus), judged
by held-out likelihood, by how close its samples keep to the corpus's pitch classes, and by `--bars`.

Data: `genzoo.data.load("music", composer=...)` (`genzoo.data.music_sources`), the first LIMIT files of each
composer's folder by path (Bach: the chorales' MusicXML and a few kern/XML scores), split every 10th piece
test, every 10th + 1 val, the rest train.
Per corpus, model (music_lstm, music_gpt on events; pianoroll_lstm on 16th-note piano-rolls) and seed
(SEEDS: the seed of the initial weights, the batches and the sampling), trained with Adam for a wall-clock
budget on one thread, sampled from a weight EMA (EMA; `genzoo.fit` keeps one at a model's `default_ema`); every
row is the mean over the seeds, each seed's value in `per_seed`:
- nll_per_event / nll_per_frame on the whole held-out pieces, beside the unigram event / independent
  Bernoulli-per-key baselines, and learning curves (held-out NLL vs wall-clock seconds) in the row;
- pitch_class_kl: KL(held-out histogram || generated histogram) of duration-weighted pitch classes, pooled
  over N_SAMPLES pieces x BARS bars at temperature 1 (and 0.8) (`genzoo.metrics.music`). Beside it: the
  unigram event sampler with as many pieces and bars, decoded as `genzoo.metrics.music` does and as the event
  models are (no note longer than the corpus's longest); N_SAMPLES real train excerpts of BARS bars (the
  floor at this sample size); every real train piece (the floor); and, for event models, the same samples
  decoded without the longest-note cap, and the same runs' last iterate (no EMA). N_SAMPLES is 64, not 8: a
  composed piece keeps to one key, so the pooled histogram of 8 pieces is mostly the luck of their keys (8 real
  8-bar train excerpts scatter 0.01 to 0.12 nats from the val pieces, while the keyless unigram's barely
  moves); and the EMA: a last iterate's key balance swings from one checkpoint to the next (on the val
  pieces, one run's KL ranged over 0.05-0.16 nats across checkpoints 5 s apart, the EMA's over 0.01-0.04
  after 15 s);
- bars_written: `genzoo compose --bars 8` through the CLI, the MIDI's length in bars of the corpus's meter as
  music21's MIDI reader counts it (`genzoo.metrics.music.midi_bars`; should be 8.0, for every model);
- the issue's case: the chorales model's samples scored against Palestrina (what a user got when
  `-d composer=palestrina` was silently ignored).
`--split val` judges against the val pieces instead (every 10th + 1) and writes music_corpus_val.json: the
split the settings were chosen on; music_corpus.json (test) is reported once.
Run: python benchmarks/music_corpus.py [--split val]  (about 10 minutes on one CPU thread, parsing included;
`--smoke` runs in a minute into music_corpus_smoke.json).
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
N_SAMPLES = 64  # composed pieces per model and seed: each piece keeps to one key, so the pooled histogram of
# a few is mostly the luck of their keys (8 real train excerpts scatter 0.02-0.12 nats from the val pieces)
BARS = 8  # bars per composed piece
SEEDS = (0, 1)  # training and sampling seeds
EMA: float | None = 0.99  # weight-EMA decay for every model (`genzoo train --ema 0.99`; music_lstm's and
# pianoroll_lstm's default_ema), chosen on the val pieces over 0.995 and none; None: each model's default_ema
MODELS = {
    "music_lstm": ("events", {"embed": 64, "hidden": 256, "layers": 1, "dropout": 0.1}, 3e-3),
    "music_gpt": ("events", {"context_length": 128, "n_layer": 2, "n_head": 4, "d_model": 128, "dropout": 0.1}, 2e-3),
    "pianoroll_lstm": ("pianoroll", {"hidden": 256, "layers": 1, "dropout": 0.1}, 3e-3),
}
CORPORA = {"chorales": "bach", "palestrina": "palestrina"}


def train_with_curve(model: Any, data: Any, seconds: float, lr: float, ema: float | None,
                     held_out: Callable[[Any], float]) -> tuple[Any, int, list[list[float]]]:
    """Adam with clipping for `seconds` of training (evaluation time not counted), keeping a weight EMA of
    decay `ema` as `genzoo.fit` does (None: none). Returns the weights `genzoo train` would keep (the EMA
    copy, else the model), the steps taken, and [seconds, held-out NLL of those weights] at CURVE_POINTS
    evenly spaced moments."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=len(data) >= BATCH)
    kept = copy.deepcopy(model).requires_grad_(False) if ema else model
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
            if ema:
                with torch.no_grad():
                    torch._foreach_lerp_(list(kept.parameters()), list(model.parameters()), 1.0 - ema)
            trained += time.perf_counter() - t
            steps += 1
            if trained >= marks[0]:
                kept.eval()
                curve.append([round(trained, 1), held_out(kept)])
                marks.pop(0)
                if not marks:
                    break
    model.eval()
    kept.eval()
    return kept, steps, curve


def bars_written(model: Any, bars: int) -> float:
    """`genzoo compose --bars` on the saved model; the MIDI's length in bars as music21's MIDI reader sees it."""
    with tempfile.TemporaryDirectory() as tmp:
        gz.save(model, Path(tmp) / "run")
        out = Path(tmp) / "c.mid"
        if cli(["compose", str(Path(tmp) / "run"), "--bars", str(bars), "--no-wav", "-o", str(out)]) != 0:
            return float("nan")
        return midi_bars(out)


def real_excerpts(train: list[np.ndarray], n: int, length: int, seed: int) -> list[np.ndarray]:
    """`n` train pieces (drawn without replacement while they last) cut to their first `length` steps: what
    a composer that wrote exactly like the corpus would score at this number and length of samples."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(len(train)) for _ in range(-(-n // len(train)))])[:n]
    return [mu.fit_to_length(train[i], length) for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="12 files per corpus, 3 s per model, one seed")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="held-out pieces to judge against; val (to choose settings) writes music_corpus_val.json")
    args = parser.parse_args()
    global SECONDS, LIMIT, SEEDS
    if args.smoke:
        SECONDS, LIMIT, SEEDS = 3, 12, SEEDS[:1]
    torch.set_num_threads(1)
    held_name = args.split
    res = Results("music_corpus" if held_name == "test" else "music_corpus_val", smoke=args.smoke)
    tests: dict[str, list] = {}
    samples_of_chorales_lstm: list = []
    seeds_note = f"mean of {len(SEEDS)} seeds ({', '.join(map(str, SEEDS))}), per_seed in the row"

    def add(corpus: str, system: str, metric: str, values: list[float], budget: str, **extra: Any) -> None:
        """One row per system and metric: the mean over seeds, each seed's value in `per_seed`."""
        res.add(corpus, system, metric, float(np.mean(values)), False, f"{budget}; {seeds_note}",
                per_seed=[float(v) for v in values], **extra)

    for corpus, composer in CORPORA.items():
        t = time.perf_counter()
        splits = {s: gz.data.load("music", split=s, composer=composer, limit=LIMIT, seq_len=128)
                  for s in ("train", held_name)}
        info = splits["train"].info.extra
        print(f"{corpus}: {info['pieces']} pieces from {info['files']} files in {time.perf_counter() - t:.0f}s "
              f"({info['file_list_checksum'][:19]}, {info['time_signature']})", flush=True)
        train = [n for _, n in splits["train"].pieces]
        test_pieces = splits[held_name].pieces
        test = [n for _, n in test_pieces]
        tests[corpus] = test
        real = music_stats(test)
        meter = info["time_signature"]
        data_note = (f"{len(train)} train / {len(test)} {held_name} pieces, {info['files']} files "
                     f"({info['file_list_checksum'][:19]}), meter {meter[0]}/{meter[1]}")
        bar = mu.bar_steps(splits["train"].info)
        samples_note = f"{N_SAMPLES} pieces x {BARS} bars"
        res.add(corpus, f"real_train_vs_{held_name}", "pitch_class_kl", pitch_class_kl(music_stats(train), real),
                False, f"reference floor: every real train piece vs the real {held_name} pieces; " + data_note)
        add(corpus, "real train excerpts", "pitch_class_kl",
            [pitch_class_kl(music_stats(real_excerpts(train, N_SAMPLES, BARS * bar, s)), real) for s in SEEDS],
            f"the floor at the models' sample size: {samples_note} of real train pieces (their first bars); "
            + data_note)
        longest = info.get("max_note_steps")
        for cap in (None, longest):
            add(corpus, "unigram" if cap is None else "unigram note cap", "pitch_class_kl",
                [pitch_class_kl(music_stats(unigram_pieces(train, N_SAMPLES, BARS * bar, seed=s, longest=cap)), real)
                 for s in SEEDS],
                f"unigram event sampler fit on train, {samples_note}, sampling seed = seed, "
                + ("decoded with no note cap" if cap is None else
                   f"decoded as the event models are (no note longer than the corpus's longest, {cap} steps)")
                + "; " + data_note)
        res.add(corpus, "unigram", "nll_per_event", unigram_event_nll(splits["train"].pieces, test_pieces), False,
                data_note)
        res.add(corpus, "bernoulli_per_key", "nll_per_frame", bernoulli_frame_nll(splits["train"].pieces, test_pieces),
                False, data_note)
        share = real["pitch_class_hist"][1] + real["pitch_class_hist"][3]
        for name, (representation, options, lr) in MODELS.items():
            data = gz.data.load("music", split="train", composer=composer, limit=LIMIT, seq_len=128,
                                representation=representation)
            score = event_nll if representation == "events" else frame_nll
            metric = "nll_per_event" if representation == "events" else "nll_per_frame"
            rows: dict[tuple[str, str], list[float]] = {}
            curves, steps_taken = [], []
            for seed in SEEDS:
                torch.manual_seed(seed)
                last = gz.create(name, data=data, **options)
                ema = EMA if EMA is not None else type(last).default_ema
                model, steps, curve = train_with_curve(last, data, SECONDS, lr, ema,
                                                       functools.partial(score, pieces=test_pieces))
                steps_taken.append(steps)
                if model is not last:  # the fix's evidence: the same run's last iterate, without the weight EMA
                    torch.manual_seed(seed)
                    rows.setdefault((f"{name} last iterate", "pitch_class_kl"), []).append(
                        pitch_class_kl(music_stats(last.compose(N_SAMPLES, BARS, None, 1.0)), real))
                    rows.setdefault((f"{name} last iterate", metric), []).append(score(last, test_pieces))
                curves.append(curve)
                rows.setdefault((name, metric), []).append(curve[-1][1])
                for temperature in (1.0, 0.8):
                    torch.manual_seed(seed)
                    pieces = model.compose(N_SAMPLES, BARS, None, temperature)
                    hist = np.array(music_stats(pieces)["pitch_class_hist"])
                    system = name if temperature == 1.0 else f"{name} T=0.8"
                    rows.setdefault((system, "pitch_class_kl"), []).append(pitch_class_kl(music_stats(pieces), real))
                    rows.setdefault((system, "csharp_eb_share"), []).append(float(hist[1] + hist[3]))
                    if temperature == 1.0 and seed == SEEDS[0] and name == "music_lstm":
                        if corpus == "chorales":
                            samples_of_chorales_lstm = pieces
                        mu.write_midi(pieces[0], res.file(f"music_corpus_{corpus}_sample.mid"), length=BARS * bar,
                                      time_signature=tuple(meter))
                if representation == "events":  # the same samples decoded without the longest-note cap
                    torch.manual_seed(seed)
                    uncapped_info = copy.deepcopy(model.data_info)
                    uncapped_info.extra.pop("max_note_steps", None)
                    raw = mu.compose_from_events(model.sample, N_SAMPLES, BARS, None, 1.0, uncapped_info)
                    rows.setdefault((f"{name} no note cap", "pitch_class_kl"), []).append(
                        pitch_class_kl(music_stats(raw), real))
                if seed == SEEDS[0]:
                    rows[(name, "bars_written")] = [bars_written(model, BARS)]
            budget = (f"{SECONDS}s training wall per seed ({'/'.join(map(str, steps_taken))} steps x batch {BATCH} "
                      f"x 128), weight EMA {ema}, 1 thread; {data_note}")
            for (system, row_metric), values in rows.items():
                if row_metric == metric and system.endswith("last iterate"):
                    add(corpus, system, metric, values, f"the same runs' final weights without the EMA; {budget}")
                elif row_metric == metric:
                    add(corpus, system, metric, values, budget, learning_curves=curves)
                elif row_metric == "pitch_class_kl" and system.endswith("last iterate"):
                    add(corpus, system, row_metric, values,
                        f"the same runs' final weights without the EMA (decay {ema}), {samples_note}, temperature 1")
                elif row_metric == "pitch_class_kl" and system.endswith("no note cap"):
                    add(corpus, system, row_metric, values,
                        "the temperature-1 samples above, decoded with notes held until their NOTE_OFF or the end")
                elif row_metric == "pitch_class_kl":
                    temperature = 0.8 if "T=0.8" in system else 1.0
                    add(corpus, system, row_metric, values,
                        f"{samples_note}, temperature {temperature}, vs {held_name} pieces; {budget}")
                elif row_metric == "csharp_eb_share":
                    add(corpus, system, row_metric, values,
                        f"share of sounding time on C# and Eb in the samples ({held_name} pieces: {share:.4f})")
                else:
                    res.add(corpus, system, row_metric, values[0], False,
                            f"genzoo compose --bars {BARS} through the CLI, seed {SEEDS[0]}'s model; MIDI length in "
                            f"bars, music21's MIDI reader (want {BARS})")
    if samples_of_chorales_lstm and "palestrina" in tests:
        res.add("palestrina", "music_lstm trained on chorales", "pitch_class_kl",
                pitch_class_kl(music_stats(samples_of_chorales_lstm), music_stats(tests["palestrina"])), False,
                f"the issue's case: -d composer=palestrina ignored, a Bach model (seed {SEEDS[0]}) judged against "
                f"Palestrina's {held_name} pieces")
    print(f"wrote {res.write()}")


if __name__ == "__main__":
    main()
