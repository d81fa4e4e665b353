"""Music: lossless events <-> MIDI, piano-rolls, the two LSTMs learn, composed MIDI parses with music21."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps.music import compose
from genzoo.cli import main
from genzoo.data import music as mu
from genzoo.errors import GenzooError
from genzoo.metrics.music import music_stats, stats_distance


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
    assert (tmp_path / "o.wav").stat().st_size > 1000  # rendered beside the MIDI
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


# -- audio rendering ---------------------------------------------------------------------------------------
def test_wav_rendering_has_the_right_rate_pitch_and_is_not_silent(tmp_path: Path) -> None:
    import soundfile

    from genzoo.apps.music import render_wav, synthesize

    notes = np.array([[69, 0, 8], [69, 8, 16]])  # A4 for two half notes at 16th-note steps
    mu.write_midi(notes, tmp_path / "a.mid", tempo_bpm=120)
    wav, renderer = render_wav(tmp_path / "a.mid", tmp_path / "a.wav", tempo_bpm=120, rate=16000)
    audio, rate = soundfile.read(wav)
    assert rate == 16000 and audio.ndim == 1
    assert len(audio) == pytest.approx(16000 * 2.0, rel=0.1)  # 16 sixteenths at 120 bpm = 2 s, + release
    assert np.sqrt(np.mean(audio**2)) > 0.05
    if renderer != "fluidsynth":  # the built-in synthesizer: the fundamental dominates the spectrum
        spectrum = np.abs(np.fft.rfft(audio[:16000]))
        assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1 s of audio: bin = Hz
        with pytest.raises(GenzooError, match="no notes"):
            synthesize(np.zeros((0, 3), dtype=np.int64))


# -- JSB Chorales download loader -----------------------------------------------------------------------
JSB_SMALL = {
    "train": [[[60, 64, 67, 72], [60, 64, 67, 72], [59, 62, 67, 74]], [[57, 60, 64, 69], []]],
    "valid": [[[62, 65, 69, 74]]],
    "test": [[[55, 59, 62, 67], [48, 60, 64, 72]]],
}


def test_jsb_json_parses_into_quarter_note_rolls(tmp_path: Path) -> None:
    import json

    path = tmp_path / "jsb.json"
    path.write_text(json.dumps(JSB_SMALL))
    train = mu.parse_jsb(path, "train")
    assert [name for name, _ in train] == ["jsb-train-000", "jsb-train-001"]
    rolls = mu.ChoraleRolls(train, seq_len=2, name="jsb_chorales", steps_per_quarter=1)
    roll = mu.notes_to_roll(train[0][1])
    assert roll.shape == (3, 88) and roll.sum(1).tolist() == [4, 4, 4] and roll[0, 60 - mu.LOW] == 1
    assert rolls.info.extra["steps_per_quarter"] == 1
    assert mu.notes_to_roll(train[1][1]).shape == (1, 88)  # a trailing empty frame has no note to end it
    assert len(mu.parse_jsb(path, "val")) == 1 and len(mu.parse_jsb(path, "test")) == 1
    path.write_text(json.dumps({"train": [[[60, 300]]]}))
    with pytest.raises(GenzooError, match="not a JSB Chorales JSON"):
        mu.parse_jsb(path, "train")
    with pytest.raises(GenzooError, match="unknown split"):
        mu.parse_jsb(path, "dev")


def test_jsb_loader_offline_error_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(mu, "JSB_URLS", ["http://127.0.0.1:9/jsb.json"])
    with pytest.raises(GenzooError, match="place the file by hand at .*jsb-chorales-quarter.json"):
        gz.data.load("jsb_chorales")
    target = tmp_path / "jsb_chorales" / "jsb-chorales-quarter.json"
    target.write_text(json.dumps(JSB_SMALL))  # the right format, but not the published file
    with pytest.raises(GenzooError, match="fails its sha256 check"):
        gz.data.load("jsb_chorales")
