"""Music: lossless events <-> MIDI, piano-rolls, the two LSTMs learn, composed MIDI parses with music21."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps.music import compose, music_stats, stats_distance
from genzoo.cli import main
from genzoo.data import music as mu
from genzoo.errors import GenzooError


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    """Tiny LSTMs are sequential: extra intra-op threads only add sync cost (and are ~40x slower on a
    loaded machine), so these tests run single-threaded, as `genzoo.apps.forecast` does."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chorale() -> np.ndarray:
    return mu.parse_notes(mu.chorale_paths()[1])


def test_events_midi_events_round_trip_is_lossless(chorale: np.ndarray, tmp_path: Path) -> None:
    events = mu.notes_to_events(chorale)
    assert np.array_equal(mu.events_to_notes(events), chorale)
    mu.write_midi(mu.events_to_notes(events), tmp_path / "a.mid")
    assert mu.notes_to_events(mu.read_midi(tmp_path / "a.mid")) == events
    # edge cases: a repeated note, a unison doubling (merged), a rest longer than one time-shift
    tricky = np.array([[60, 0, 4], [60, 4, 8], [64, 0, 8], [64, 2, 6], [67, 40, 41]])
    ev = mu.notes_to_events(tricky)
    assert np.array_equal(mu.events_to_notes(ev), [[60, 0, 4], [64, 0, 8], [60, 4, 8], [67, 40, 41]])
    mu.write_midi(mu.events_to_notes(ev), tmp_path / "b.mid")
    assert mu.notes_to_events(mu.read_midi(tmp_path / "b.mid")) == ev


def test_pianoroll_round_trip_and_midi_parses_with_music21(chorale: np.ndarray, tmp_path: Path) -> None:
    from music21 import converter

    roll = mu.notes_to_roll(chorale)
    assert roll.shape[1] == 88 and set(np.unique(roll)) <= {0.0, 1.0}
    assert np.array_equal(mu.notes_to_roll(mu.roll_to_notes(roll)), roll)
    path = mu.write_midi(chorale, tmp_path / "c.mid")
    parsed = converter.parse(str(path)).stripTies()  # music21 splits notes at bar lines; join them again
    pitches = [p.midi for n in parsed.flatten().notes for p in n.pitches]
    assert set(pitches) == set(chorale[:, 0].tolist()) and abs(len(pitches) - len(chorale)) <= 0.05 * len(
        chorale
    )


def test_malformed_events_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GenzooError, match="not sounding"):
        mu.events_to_notes([mu.OFF0 + 60])
    assert len(mu.events_to_notes([mu.ON0 + 60, mu.SHIFT0 + 3], strict=False)) == 1
    bad = tmp_path / "x.mid"
    bad.write_bytes(b"hello")
    with pytest.raises(GenzooError, match="not a MIDI file"):
        mu.read_midi(bad)


def _train(model: torch.nn.Module, data: torch.utils.data.Dataset, steps: int, lr: float = 3e-3) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)
    model.train()
    done = 0
    while done < steps:
        for batch in loader:
            loss = model.loss(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    model.eval()


def test_event_lstm_learns_and_composes_parseable_midi(chorale: np.ndarray, tmp_path: Path) -> None:
    from music21 import converter

    data = mu.ChoraleEvents([("c", chorale)], seq_len=64)
    model = gz.create("music_lstm", data=data, embed=32, hidden=64, layers=1, dropout=0.0)
    batch = torch.stack([data[i] for i in range(len(data))])
    before = model.loss(batch)["loss"].item()
    _train(model, data, 60, lr=1e-2)
    after = model.loss(batch)["loss"].item()
    assert after < before - 1.0, (before, after)
    gz.save(model, tmp_path / "run")
    notes = compose(model, bars=2, seed=1)[0]
    assert len(notes) > 0 and notes[:, 2].max() <= 2 * 16 + 16
    again = gz.load(tmp_path / "run")
    assert np.array_equal(compose(again, bars=2, seed=1)[0], notes)
    assert main(["compose", str(tmp_path / "run"), "--bars", "2", "-o", str(tmp_path / "o.mid")]) == 0
    assert len(converter.parse(str(tmp_path / "o.mid")).flatten().notes) > 0
    mu.write_midi(chorale[:8], tmp_path / "prime.mid")
    primed = compose(model, bars=1, prime=tmp_path / "prime.mid")[0]
    assert np.array_equal(primed[: len(chorale[:8])][:, :2], mu.merge_unisons(chorale[:8])[:, :2])


def test_pianoroll_lstm_beats_its_untrained_self(chorale: np.ndarray) -> None:
    data = mu.ChoraleRolls([("c", chorale)], seq_len=32)
    model = gz.create("pianoroll_lstm", data=data, hidden=48, layers=1, dropout=0.0)
    rolls, mask = (torch.stack(t) for t in zip(*[data[i] for i in range(len(data))], strict=True))
    before = model.loss((rolls, mask))["loss"].item()
    _train(model, data, 60, lr=1e-2)
    after = model.loss((rolls, mask))["loss"].item()
    assert after < 0.5 * before, (before, after)
    pieces = compose(model, bars=2, seed=0, n=2)
    assert len(pieces) == 2 and all(p[:, 2].max() <= 32 for p in pieces if len(p))
    dist = stats_distance(music_stats([chorale]), music_stats([chorale]))
    assert dist["pitch_class_l1"] == 0 and dist["polyphony_abs_log_ratio"] == 0


def test_compose_cli_errors(tmp_path: Path) -> None:
    assert main(["compose", str(tmp_path / "none"), "-o", str(tmp_path / "x.mid")]) == 2
    assert main(["compose", str(tmp_path / "none"), "--bars", "0"]) == 2
    assert main(["compose", str(tmp_path / "none"), "--prime", str(tmp_path / "no.mid")]) == 2
