"""Music statistics: how close generated pieces are to a corpus (pitch classes, density, polyphony, range).

Pieces are note arrays (pitch, start, end) in 16th-note steps, as `genzoo.data.music` makes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genzoo.data.music import STEPS_PER_BAR
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
