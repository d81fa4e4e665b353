"""Music statistics: how close generated pieces are to a corpus (pitch classes, density, polyphony, range).

Pieces are note arrays (pitch, start, end) in 16th-note steps, as `genzoo.data.music` makes them. The
baseline a composer must beat is `unigram_pieces`: events drawn independently from the corpus's event
frequencies, decoded like a model's samples, so it plays the corpus's pitches with no sense of key or time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genzoo.data.music import (
    EOS,
    SHIFT0,
    STEPS_PER_BAR,
    VOCAB_SIZE,
    events_to_notes,
    fit_to_length,
    notes_to_events,
)
from genzoo.errors import GenzooError


def music_stats(pieces: list[Any]) -> dict[str, Any]:
    """Pitch-class histogram, notes per bar, mean polyphony and pitch range (pooled over pieces)."""
    pcs = np.zeros(12)
    notes_total, frames, sounding, lows, highs = 0, 0, 0, [], []
    for notes in pieces:
        if len(notes) == 0:
            continue
        pcs += np.bincount(notes[:, 0] % 12, weights=notes[:, 2] - notes[:, 1], minlength=12)
        notes_total += len(notes)
        length = int(notes[:, 2].max())
        frames += length
        sounding += int((notes[:, 2] - notes[:, 1]).sum())
        lows.append(int(notes[:, 0].min()))
        highs.append(int(notes[:, 0].max()))
    if not frames:
        raise GenzooError("no notes to describe")
    return {
        "pitch_class_hist": (pcs / pcs.sum()).tolist(),
        "notes_per_bar": notes_total / frames * STEPS_PER_BAR,
        "polyphony": sounding / frames,
        "pitch_low": float(np.median(lows)),
        "pitch_high": float(np.median(highs)),
    }


def stats_distance(fake: dict[str, Any], real: dict[str, Any]) -> dict[str, float]:
    """How far the samples' statistics are from the real ones; every entry is 0 when they match.

    Ratios are given as |log(fake / real)| so that too many and too few notes count alike."""
    p, q = np.asarray(fake["pitch_class_hist"]), np.asarray(real["pitch_class_hist"])
    span = fake["pitch_high"] - fake["pitch_low"] - real["pitch_high"] + real["pitch_low"]
    return {
        "pitch_class_l1": float(np.abs(p - q).sum()),
        "notes_per_bar_abs_log_ratio": abs(float(np.log(fake["notes_per_bar"] / real["notes_per_bar"]))),
        "polyphony_abs_log_ratio": abs(float(np.log(fake["polyphony"] / real["polyphony"]))),
        "range_diff_semitones": abs(float(span)),
    }


def pitch_class_kl(fake: dict[str, Any], real: dict[str, Any], eps: float = 1e-4) -> float:
    """KL(corpus || generated) of the duration-weighted pitch-class histograms, in nats (0 when equal).

    This direction punishes a generator for missing the pitch classes the corpus uses; `eps` keeps a class
    the generator never plays from making it infinite."""
    p = np.asarray(real["pitch_class_hist"]) + eps
    q = np.asarray(fake["pitch_class_hist"]) + eps
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log(p / q)).sum())


def unigram_pieces(corpus: list[Any], n: int, length: int, seed: int = 0,
                   longest: int | None = None) -> list[Any]:
    """`n` pieces of `length` steps from the unigram event sampler of `corpus` (note arrays): every event
    drawn independently with its frequency in the corpus (EOS excluded, so a piece runs its length).

    `longest`: no note lasts more than this many steps, as the event models' samples are decoded
    (`compose_from_events` caps every note at the corpus's longest); without it a note-on whose note-off
    never comes rings to the end of the piece and swamps the pitch histogram."""
    counts = np.zeros(VOCAB_SIZE)
    for notes in corpus:
        np.add.at(counts, notes_to_events(notes), 1)
    counts[EOS] = 0
    if not counts.sum():
        raise GenzooError("the corpus has no events to draw a unigram sampler from")
    p, rng, out = counts / counts.sum(), np.random.default_rng(seed), []
    steps = np.clip(np.arange(VOCAB_SIZE) - SHIFT0 + 1, 0, None)  # the steps each event advances time
    for _ in range(n):
        events: list[int] = []
        now = 0
        while now < length:
            block = rng.choice(VOCAB_SIZE, size=256, p=p)
            for tok in block.tolist():
                events.append(tok)
                now += int(steps[tok])
                if now >= length:
                    break
        notes = fit_to_length(events_to_notes(events, strict=False, end=length), length)
        if longest is not None:
            notes = np.column_stack([notes[:, :2], np.minimum(notes[:, 2], notes[:, 1] + longest)])
        out.append(notes)
    return out


def midi_bars(path: Any) -> float:
    """Length of a MIDI file in bars of its (first) time signature, end-of-track included, read with
    music21's MIDI reader: an independent check of `compose --bars` (music21's score import rounds a piece
    up to whole measures and ignores the silence before the end of the track, so it cannot be the judge)."""
    from music21 import midi

    mf = midi.MidiFile()
    mf.open(str(path))
    mf.read()
    mf.close()
    ticks, meter = 0, None
    for track in mf.tracks:
        ticks = max(ticks, sum(e.time for e in track.events if isinstance(e, midi.DeltaTime)))
        for e in track.events:
            if getattr(e, "type", None) == midi.MetaEvents.TIME_SIGNATURE and meter is None:
                meter = (e.data[0], 2 ** e.data[1])
    num, den = meter or (4, 4)
    return ticks / mf.ticksPerQuarterNote / (num * 4 / den)
