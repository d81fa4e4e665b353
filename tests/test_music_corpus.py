"""Music from any corpus: a MIDI folder trains through the CLI, a Palestrina query loads, bad options are
refused in one line, `compose --bars N` writes N bars for every music model, and the pitch-class KL ranks a
corpus-matching sampler above a uniform one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import genzoo as gz
from genzoo.cli import main
from genzoo.data import music as mu
from genzoo.metrics.music import midi_bars, music_stats, pitch_class_kl, unigram_pieces
from genzoo.registry import model_entry

C_MAJOR = np.array([60, 62, 64, 65, 67, 69, 71, 72])


def _tune(rng: np.random.Generator, bars: int, bar: int) -> np.ndarray:
    """A two-voice line in C major: quarter notes over a held bass note per bar."""
    notes = []
    for b in range(bars):
        notes.append((int(rng.choice(C_MAJOR)) - 24, b * bar, (b + 1) * bar))
        notes += [(int(rng.choice(C_MAJOR)), b * bar + q, b * bar + q + 4) for q in range(0, bar, 4)]
    return np.array(notes, dtype=np.int64)


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    rng = np.random.default_rng(0)
    for i in range(5):  # 3/4 time: bars of 12 sixteenths
        mu.write_midi(_tune(rng, 6, 12), folder / ("sub" if i % 2 else "") / f"tune{i}.mid", time_signature=(3, 4))
    return folder


def test_a_midi_folder_trains_through_the_cli_and_composes_exact_bars(
    midi_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = ["train", "music_lstm", "--data", str(midi_folder), "--out", str(run), "--max-steps", "3",
            "--batch-size", "2", "-O", "embed=8", "-O", "hidden=16", "-O", "layers=1", "-d", "seq_len=32",
            "--no-progress"]
    assert main(args) == 0
    model = gz.load(run)
    extra = model.data_info.extra
    assert (extra["files"], extra["pieces"], extra["split_pieces"]) == (5, 5, 3)
    assert extra["time_signature"] == [3, 4] and extra["file_list_checksum"].startswith("sha256:")
    assert extra["source"] == midi_folder.name and not extra["skipped_files"]
    again = gz.data.load(str(midi_folder), split="train", seq_len=32)
    assert again.info.extra["file_list_checksum"] == extra["file_list_checksum"]
    out = tmp_path / "three.mid"
    assert main(["compose", str(run), "--bars", "3", "--no-wav", "-o", str(out)]) == 0
    assert "3 bars of 3/4" in capsys.readouterr().out
    assert midi_bars(out) == 3.0
    assert main(["eval", str(run), "--metrics", "pitch_class_kl", "-n", "2"]) == 0
    assert "unigram_pitch_class_kl" in capsys.readouterr().out


@pytest.mark.parametrize("name,representation", [("music_gpt", "events"), ("pianoroll_lstm", "pianoroll")])
def test_every_music_model_composes_exactly_n_bars(
    name: str, representation: str, midi_folder: Path, tmp_path: Path
) -> None:
    data = gz.data.load(str(midi_folder), seq_len=32, representation=representation)
    model = gz.create(name, data=data, **model_entry(name).cls.quick.options)
    gz.save(model, tmp_path / "run")
    for bars in (1, 3):
        out = tmp_path / f"{bars}.mid"
        assert main(["compose", str(tmp_path / "run"), "--bars", str(bars), "--no-wav", "-o", str(out),
                     "--temperature", "1.5"]) == 0
        assert midi_bars(out) == bars
        pieces = model.compose(2, bars)
        assert all(len(p) == 0 or p[:, 2].max() <= bars * 12 for p in pieces)


def test_a_palestrina_query_loads_its_own_pieces() -> None:
    data = gz.data.load("music", split="all", composer="palestrina", limit=2, seq_len=64)
    extra = data.info.extra
    assert (extra["files"], extra["pieces"], extra["source"]) == (2, 2, "composer=palestrina")
    assert extra["time_signature"] == [4, 2]
    assert all(name.startswith("palestrina/") for name, _ in data.pieces)
    hist = np.array(music_stats([n for _, n in data.pieces])["pitch_class_hist"])
    assert hist[[1, 3]].sum() < 0.05  # C# and Eb: rare in Palestrina (and common in the Bach chorales)


def test_bad_dataset_options_are_refused_in_one_line(
    midi_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "music_lstm", "--out", str(tmp_path / "r"), "--max-steps", "1"]
    for data, option, named in (
        ("music", "composr=palestrina", "composr"),
        ("chorales", "composer=palestrina", "composer"),
        (str(midi_folder), "colour=red", "colour"),
        (str(midi_folder), "limit=2", "limit=2"),
        ("music", "composer=nobody_at_all", "nobody_at_all"),
    ):
        capsys.readouterr()
        assert main([*base, "--data", data, "-d", option]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and named in err[0] and err[0].startswith("genzoo: error:"), err


def test_pitch_class_kl_prefers_a_sampler_that_matches_the_corpus() -> None:
    rng = np.random.default_rng(1)
    corpus = [_tune(rng, 8, 16) for _ in range(6)]
    real = music_stats(corpus)
    matching = music_stats([_tune(rng, 8, 16) for _ in range(4)])
    uniform = music_stats([np.column_stack([rng.integers(48, 84, 64), np.arange(64) * 2, np.arange(64) * 2 + 2])])
    assert pitch_class_kl(real, real) == pytest.approx(0.0, abs=1e-9)
    assert pitch_class_kl(matching, real) < 0.1 < pitch_class_kl(uniform, real)
    unigram = unigram_pieces(corpus, 3, 64)
    assert all(p[:, 2].max() <= 64 for p in unigram)
    pcs = {int(p) % 12 for piece in unigram for p in piece[:, 0]}
    assert pcs <= {int(p) % 12 for p in C_MAJOR}  # the unigram sampler plays only the corpus's pitches
    capped = unigram_pieces(corpus, 3, 64, longest=4)
    assert all((p[:, 2] - p[:, 1]).max() <= 4 for p in capped)
    assert max((p[:, 2] - p[:, 1]).max() for p in unigram) > 4  # without the cap some note outlasts it


def test_a_piano_roll_model_learns_how_pieces_open() -> None:
    """The sampler starts from a silent frame and a blank state; the rolls start so too, so the opening chord
    (which sets a piece's key) is trained, not an untrained guess from a frame the model never saw."""
    import torch

    rng = np.random.default_rng(2)
    opening = [(60, 0, 8), (64, 0, 8), (67, 0, 8)]  # every piece opens on a C major chord, then wanders
    melody = [[(int(p), 8 + 4 * k, 12 + 4 * k) for k, p in enumerate(rng.integers(50, 80, 10))] for _ in range(16)]
    pieces = [(f"p{i}", np.array(opening + m, dtype=np.int64)) for i, m in enumerate(melody)]
    data = mu.ChoraleRolls(pieces, seq_len=64)
    roll, mask = data[0]
    assert roll[0].sum() == 0 and mask[1] == 1 and roll[1, [60 - mu.LOW, 64 - mu.LOW, 67 - mu.LOW]].sum() == 3
    torch.manual_seed(0)
    model = gz.create("pianoroll_lstm", data=data, hidden=32, layers=1, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = [torch.stack(t) for t in zip(*[data[i] for i in range(len(data))], strict=True)]
    for _ in range(200):
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    first = model.sample(32, frames=1)[:, 0]
    keys = [60 - mu.LOW, 64 - mu.LOW, 67 - mu.LOW]
    chord = first[:, keys].mean().item()
    others = (first.sum() - first[:, keys].sum()).item() / (32 * 85)
    assert chord > 0.8 and others < 0.15, (chord, others)  # an untrained opening: each key at its average rate
