"""Bach chorales from the music21 corpus as piano-rolls and as note-on / note-off / time-shift events.

A piece is first a list of notes (pitch, start, end) on a 16th-note grid. From there:
- piano-roll: a (T, 88) 0/1 matrix of sounding keys (MIDI 21-108) per 16th-note frame;
- events (Performance RNN without velocity, Oore et al. 2018): at each time where something changes,
  NOTE_OFF for ending pitches, then NOTE_ON for starting ones (each in pitch order), then TIME_SHIFTs of
  1-16 sixteenths to the next change. This canonical order makes notes -> events a function, so
  events -> MIDI -> events is lossless (tested). Unison doublings between voices are merged first (one key
  sounds once), which is also what a piano-roll does.
MIDI is read and written by the small standard-MIDI-file codec below (format 0/1, running status), so no
extra package is needed; music21 parses what it writes.

Parsing the corpus with music21 is slow (seconds per chorale on a busy CPU), so the notes of every
chorale are cached once as a .npz in the genzoo cache. Splits are fixed by sorted file name: every 10th
chorale is test, every 10th + 1 is val, the rest train.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

STEPS_PER_QUARTER = 4  # 16th-note resolution
LOW, HIGH = 21, 109  # piano keys A0..C8 -> 88 piano-roll columns
PAD, BOS, EOS = 0, 1, 2
ON0 = 3
OFF0 = ON0 + 128
SHIFT0 = OFF0 + 128
MAX_SHIFT = 16
VOCAB_SIZE = SHIFT0 + MAX_SHIFT

Notes = np.ndarray  # (N, 3) int64: pitch, start step, end step


# -- notes <-> events -------------------------------------------------------------------------------------
def merge_unisons(notes: Notes) -> Notes:
    """Sort notes by (start, pitch) and merge overlapping notes of the same pitch into one."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    notes = notes[notes[:, 2] > notes[:, 1]]
    out: list[list[int]] = []
    last: dict[int, int] = {}  # pitch -> index in out of its latest note
    for p, s, e in sorted(map(tuple, notes.tolist()), key=lambda n: (n[1], n[0])):
        j = last.get(p)
        if j is not None and s < out[j][2]:
            out[j][2] = max(out[j][2], e)
            continue
        last[p] = len(out)
        out.append([p, s, e])
    arr = np.array(out, dtype=np.int64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


def notes_to_events(notes: Notes) -> list[int]:
    """Canonical event tokens of a note list (without BOS/EOS)."""
    notes = merge_unisons(notes)
    changes: dict[int, tuple[list[int], list[int]]] = {}
    for p, s, e in notes.tolist():
        changes.setdefault(s, ([], []))[1].append(p)
        changes.setdefault(e, ([], []))[0].append(p)
    events: list[int] = []
    now = 0
    for t in sorted(changes):
        gap = t - now
        while gap > 0:
            k = min(gap, MAX_SHIFT)
            events.append(SHIFT0 + k - 1)
            gap -= k
        offs, ons = changes[t]
        events += [OFF0 + p for p in sorted(offs)] + [ON0 + p for p in sorted(ons)]
        now = t
    return events


def events_to_notes(
    events: list[int] | np.ndarray, strict: bool = True, end: int | None = None, max_duration: int | None = None
) -> Notes:
    """Notes from event tokens. strict: unmatched or repeated NOTE_ON/OFF raise; else they are dropped
    (model samples may be malformed) and notes still sounding at the end are closed there, or at step `end`
    when given (a piece cut by a time budget ends at the budget, not at its last time-shift).

    max_duration: no note lasts longer (Magenta's `max_note_duration`). A sampled NOTE_ON whose NOTE_OFF
    never comes would otherwise sound to the end of the piece: one stray pitch held for eight bars outweighs
    a bar of real notes in any duration-weighted statistic, and in the ear."""
    now = 0
    open_: dict[int, int] = {}
    notes: list[tuple[int, int, int]] = []
    for tok in (int(t) for t in events):
        if tok in (PAD, BOS):
            continue
        if tok == EOS:
            break
        if ON0 <= tok < OFF0:
            p = tok - ON0
            if p in open_:
                if strict:
                    raise GenzooError(f"event stream turns on pitch {p} twice at step {now}")
                continue
            open_[p] = now
        elif OFF0 <= tok < SHIFT0:
            p = tok - OFF0
            if p not in open_:
                if strict:
                    raise GenzooError(f"event stream turns off pitch {p} that is not sounding (step {now})")
                continue
            start = open_.pop(p)
            if now > start:
                notes.append((p, start, now))
        elif SHIFT0 <= tok < VOCAB_SIZE:
            now += tok - SHIFT0 + 1
        else:
            raise GenzooError(f"token {tok} is outside the event vocabulary (0..{VOCAB_SIZE - 1})")
    if open_ and strict:
        raise GenzooError(f"event stream ends with {len(open_)} notes still sounding")
    close = now if end is None else max(now, end)
    notes += [(p, s, close) for p, s in open_.items() if close > s]
    arr = np.array(notes, dtype=np.int64).reshape(-1, 3)
    if max_duration is not None:
        arr[:, 2] = np.minimum(arr[:, 2], arr[:, 1] + max_duration)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


# -- notes <-> piano-roll ---------------------------------------------------------------------------------
def notes_to_roll(notes: Notes) -> np.ndarray:
    """(T, 88) float32 0/1 piano-roll; pitches outside the piano are dropped."""
    notes = np.asarray(notes).reshape(-1, 3)
    length = int(notes[:, 2].max()) if len(notes) else 0
    roll = np.zeros((length, HIGH - LOW), dtype=np.float32)
    for p, s, e in notes.tolist():
        if LOW <= p < HIGH:
            roll[s:e, p - LOW] = 1.0
    return roll


def roll_to_notes(roll: np.ndarray) -> Notes:
    """Notes from a piano-roll: a key's run of consecutive 1-frames is one note (repeats merge)."""
    roll = np.asarray(roll) > 0.5
    padded = np.concatenate([np.zeros((1, roll.shape[1]), bool), roll, np.zeros((1, roll.shape[1]), bool)])
    diff = np.diff(padded.astype(np.int8), axis=0)
    notes = []
    for k in range(roll.shape[1]):
        starts, ends = np.flatnonzero(diff[:, k] == 1), np.flatnonzero(diff[:, k] == -1)
        notes += [(k + LOW, s, e) for s, e in zip(starts, ends, strict=True)]
    arr = np.array(notes, dtype=np.int64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


# -- standard MIDI files ------------------------------------------------------------------------------------
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # 4/4 at 16th-note resolution


def concatenate(pieces: list[Notes], gap: int = STEPS_PER_BAR) -> Notes:
    """One note array of the pieces played one after another, `gap` steps apart (e.g. to write one MIDI)."""
    out, offset = [], 0
    for notes in pieces:
        if len(notes):
            out.append(notes + np.array([0, offset, offset]))
            offset += int(notes[:, 2].max()) + gap
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def bar_steps(info: Any) -> int:
    """16th-note steps in one bar of the corpus a model was trained on (its most common time signature;
    4/4 when the dataset does not record one)."""
    num, den = time_signature(info)
    return num * 4 * STEPS_PER_QUARTER // den


def time_signature(info: Any) -> tuple[int, int]:
    """The (numerator, denominator) a dataset records in `extra["time_signature"]`, else 4/4."""
    extra = getattr(info, "extra", None) or {}
    num, den = extra.get("time_signature", (4, 4))
    return int(num), int(den)


def fit_to_length(notes: Notes, length: int) -> Notes:
    """The notes that start before step `length`, cut off there: a piece exactly `length` steps long once
    `write_midi(..., length=length)` pads the silence after its last note."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    notes = notes[notes[:, 1] < length].copy()
    notes[:, 2] = np.minimum(notes[:, 2], length)
    return notes


def compose_from_events(
    sample: Any, n: int, bars: int, prime: Notes | None, temperature: float, info: Any = None
) -> list[Notes]:
    """`n` pieces of exactly `bars` bars (of the training corpus's meter) from an event model's
    `sample(n, steps, prime, temperature, max_time, fill)`, after the prime's notes, which stay at the start.

    `fill` forbids EOS before the time budget, so a piece cannot stop early; notes still sounding when the
    budget ends it are closed at the bar line, and none lasts longer than the corpus's longest note
    (`extra["max_note_steps"]`, when the dataset records it). Shared by every event-token model."""
    length = bars * bar_steps(info)
    offset = int(prime[:, 2].max()) if prime is not None and len(prime) else 0
    primer = [BOS, *notes_to_events(prime)] if prime is not None else None
    tokens = sample(n, steps=length * 8, prime=primer, temperature=temperature, max_time=length, fill=True)
    longest = (getattr(info, "extra", None) or {}).get("max_note_steps")
    total = offset + length
    return [fit_to_length(events_to_notes(row, strict=False, end=total, max_duration=longest), total)
            for row in tokens.cpu().numpy()]


def compose_from_rolls(
    sample: Any, n: int, bars: int, prime: Notes | None, temperature: float, info: Any = None
) -> list[Notes]:
    """`n` pieces of exactly `bars` bars from a piano-roll model's `sample(n, frames, prime, temperature)`,
    in 16th-note steps whatever the model's frame rate (JSB's frames are quarter notes)."""
    spq = int((getattr(info, "extra", None) or {}).get("steps_per_quarter", STEPS_PER_QUARTER))
    scale = STEPS_PER_QUARTER // spq if STEPS_PER_QUARTER % spq == 0 else 1
    primer = notes_to_roll(prime // np.array([1, scale, scale])) if prime is not None else None
    frames = bars * bar_steps(info) // scale
    rolls = sample(n, frames=frames, prime=primer, temperature=temperature).cpu().numpy()
    total = (len(primer) if primer is not None else 0) + frames
    out = []
    for r in rolls:
        notes = roll_to_notes(np.concatenate([primer, r]) if primer is not None else r)
        out.append(fit_to_length(notes * np.array([1, scale, scale]), total * scale))
    return out


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def write_midi(
    notes: Notes,
    path: str | Path,
    tempo_bpm: float = 80.0,
    ticks_per_quarter: int = 480,
    program: int = 0,
    velocity: int = 80,
    length: int | None = None,
    time_signature: tuple[int, int] = (4, 4),
) -> Path:
    """A format-0 MIDI file of the notes (16th-note steps) on channel 1.

    length: the piece's length in steps (its end-of-track), so silence after the last note counts: a
    composition of N bars is N bars long even when it ends on a rest."""
    tick = ticks_per_quarter // STEPS_PER_QUARTER
    num, den = time_signature
    if den < 1 or den & (den - 1) or not 0 < num < 256:
        raise GenzooError(f"time signature {num}/{den} cannot be written to MIDI")
    changes: list[tuple[int, int, int]] = []  # (time, 0=off/1=on, pitch): offs sort before ons
    for p, s, e in np.asarray(notes).reshape(-1, 3).tolist():
        if not 0 <= p < 128:
            raise GenzooError(f"pitch {p} is not a MIDI note number (0-127)")
        changes += [(s * tick, 1, p), (e * tick, 0, p)]
    body = bytearray(b"\x00\xff\x51\x03" + struct.pack(">I", round(60e6 / tempo_bpm))[1:])
    body += b"\x00\xff\x58\x04" + bytes([num, den.bit_length() - 1, 0x18, 0x08, 0x00, 0xC0, program & 0x7F])
    now = 0
    for t, on, p in sorted(changes):
        body += _varlen(t - now) + bytes([0x90 if on else 0x80, p, velocity if on else 0])
        now = t
    end = max(now, (length or 0) * tick)
    body += _varlen(end - now) + b"\xff\x2f\x00"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"MThd"
        + struct.pack(">IHHH", 6, 0, 1, ticks_per_quarter)
        + b"MTrk"
        + struct.pack(">I", len(body))
        + bytes(body)
    )
    return path


def read_midi(path: str | Path) -> Notes:
    """Notes (16th-note steps) of every track and channel of a MIDI file; overlapping repeats pair FIFO."""
    data = Path(path).read_bytes()
    if data[:4] != b"MThd" or len(data) < 14:
        raise GenzooError(f"{path} is not a MIDI file (no MThd header)")
    _, _fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise GenzooError(f"{path} uses SMPTE time, which genzoo does not read")
    pos, notes = 8 + struct.unpack(">I", data[4:8])[0], []
    for _ in range(ntracks):
        if data[pos : pos + 4] != b"MTrk":
            raise GenzooError(f"{path} is corrupt: expected a track at byte {pos}")
        end = pos + 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        pos += 8
        now, status, open_ = 0, 0, {}
        while pos < end:
            delta = 0
            while True:
                b = data[pos]
                pos += 1
                delta = (delta << 7) | (b & 0x7F)
                if not b & 0x80:
                    break
            now += delta
            if data[pos] & 0x80:
                status = data[pos]
                pos += 1
            kind = status & 0xF0
            if status == 0xFF:  # meta: type, length, data
                pos += 1
                length = 0
                while True:
                    b = data[pos]
                    pos += 1
                    length = (length << 7) | (b & 0x7F)
                    if not b & 0x80:
                        break
                pos += length
            elif status in (0xF0, 0xF7):
                length = data[pos]
                pos += 1 + length
            elif kind in (0x80, 0x90):
                pitch, vel = data[pos], data[pos + 1]
                pos += 2
                key = (status & 0x0F, pitch)
                if kind == 0x90 and vel > 0:
                    open_.setdefault(key, []).append(now)
                elif open_.get(key):
                    start = open_[key].pop(0)
                    notes.append(
                        (
                            pitch,
                            round(start * STEPS_PER_QUARTER / division),
                            round(now * STEPS_PER_QUARTER / division),
                        )
                    )
            else:  # other channel messages: 1 data byte for program/pressure, 2 otherwise
                pos += 1 if kind in (0xC0, 0xD0) else 2
        pos = end
    arr = np.array(notes, dtype=np.int64).reshape(-1, 3)
    arr = arr[arr[:, 2] > arr[:, 1]]
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))] if len(arr) else arr


# -- the corpus ---------------------------------------------------------------------------------------------
def chorale_paths() -> list[Path]:
    """The MusicXML Bach chorales in music21's corpus, sorted by file name."""
    try:
        from music21 import corpus
    except ImportError:
        raise GenzooError("the chorales need music21 (pip install music21)") from None
    return sorted(
        (Path(p) for p in corpus.getComposer("bach") if str(p).endswith(".mxl")), key=lambda p: p.name
    )


def parse_notes(path: str | Path) -> Notes:
    """Notes of every part of a score (ties joined), on the 16th-note grid."""
    from music21 import converter

    score = converter.parse(str(path)).stripTies()
    notes = []
    for n in score.flatten().notes:
        s = round(float(n.offset) * STEPS_PER_QUARTER)
        e = round(float(n.offset + n.quarterLength) * STEPS_PER_QUARTER)
        notes += [(p.midi, s, e) for p in n.pitches]
    return merge_unisons(np.array(notes, dtype=np.int64).reshape(-1, 3))


def load_chorales(limit: int | None = None) -> list[tuple[str, Notes]]:
    """(name, notes) of the chorales (the first `limit` by name), parsed once and cached as .npz."""
    from genzoo.data.cache import cache_dir

    paths = chorale_paths()[:limit] if limit else chorale_paths()
    cache = cache_dir() / "chorales" / "notes.npz"
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache) as z:
            known = {k: z[k] for k in z.files}
    missing = [p for p in paths if p.stem not in known]
    for i, p in enumerate(missing):
        known[p.stem] = parse_notes(p)
        if (i + 1) % 25 == 0 or i + 1 == len(missing):  # save progress: parsing is the slow part
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **known)
            tmp.replace(cache)
    return [(p.stem, known[p.stem]) for p in paths]


def split_pieces(pieces: list[Any], split: str) -> list[Any]:
    if split == "all":
        return pieces
    which = {"test": 0, "val": 1}
    if split in which:
        return [x for i, x in enumerate(pieces) if i % 10 == which[split]]
    return [x for i, x in enumerate(pieces) if i % 10 not in (0, 1)]


class ChoraleEvents(Dataset):
    """Event-token windows of `seq_len` + 1 tokens (BOS piece EOS, chunked with 50% overlap)."""

    def __init__(self, pieces: list[tuple[str, Notes]], seq_len: int = 256, name: str = "chorales") -> None:
        self.pieces = pieces
        self.seq_len = seq_len
        self.sequences = [np.array([BOS, *notes_to_events(n), EOS], dtype=np.int64) for _, n in pieces]
        self.windows = []
        for i, seq in enumerate(self.sequences):
            for s in range(0, max(1, len(seq) - seq_len), seq_len // 2):
                self.windows.append((i, s))
        self.info = DataInfo(
            name,
            "music",
            None,
            None,
            None,
            {"representation": "events", "vocab_size": VOCAB_SIZE, "steps_per_quarter": STEPS_PER_QUARTER,
             "max_note_steps": max((int((n[:, 2] - n[:, 1]).max()) for _, n in pieces if len(n)), default=None)},
        )

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        k, s = self.windows[i]
        chunk = self.sequences[k][s : s + self.seq_len + 1]
        out = np.full(self.seq_len + 1, PAD, dtype=np.int64)
        out[: len(chunk)] = chunk
        return torch.from_numpy(out)


class ChoraleRolls(Dataset):
    """Piano-roll windows (seq_len + 1, 88) of 16th-note frames, with 50% overlap; shorter pieces zero-padded
    and masked (item = (roll, mask)).

    Every piece starts with one silent frame, the piano-roll's BOS: a sampler starts from an empty frame and
    a blank state, and frame 0 of a window is only context, so without it the first chord of a piece (which
    sets its key) would never be trained and every composition would open from an untrained guess."""

    def __init__(
        self,
        pieces: list[tuple[str, Notes]],
        seq_len: int = 128,
        name: str = "chorales",
        steps_per_quarter: int = STEPS_PER_QUARTER,
    ) -> None:
        self.pieces = pieces
        self.seq_len = seq_len
        silent = np.zeros((1, HIGH - LOW), dtype=np.float32)
        self.rolls = [np.concatenate([silent, notes_to_roll(n)]) for _, n in pieces]
        self.windows = [
            (i, s) for i, r in enumerate(self.rolls) for s in range(0, max(1, len(r) - seq_len), seq_len // 2)
        ]
        self.info = DataInfo(
            name,
            "music",
            (HIGH - LOW,),
            None,
            (0.0, 1.0),
            {"representation": "pianoroll", "low_pitch": LOW, "steps_per_quarter": steps_per_quarter},
        )

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        k, s = self.windows[i]
        chunk = self.rolls[k][s : s + self.seq_len + 1]
        roll = np.zeros((self.seq_len + 1, HIGH - LOW), dtype=np.float32)
        mask = np.zeros(self.seq_len + 1, dtype=np.float32)
        roll[: len(chunk)], mask[: len(chunk)] = chunk, 1.0
        return torch.from_numpy(roll), torch.from_numpy(mask)


@register_dataset("chorales", "Bach chorales (music21 corpus) as note-on/off/time-shift event tokens")
def chorales(split: str = "train", limit: int | None = None, seq_len: int = 256, **_: Any) -> ChoraleEvents:
    return ChoraleEvents(split_pieces(load_chorales(limit), split), seq_len)


@register_dataset("chorales_roll", "Bach chorales (music21 corpus) as 88-key piano-rolls, 16th-note frames")
def chorales_roll(
    split: str = "train", limit: int | None = None, seq_len: int = 128, **_: Any
) -> ChoraleRolls:
    return ChoraleRolls(split_pieces(load_chorales(limit), split), seq_len, "chorales_roll")


# -- JSB Chorales, the standard split (Boulanger-Lewandowski 2012) ----------------------------------------
#: The split is published as a Python pickle; unpickling a downloaded file can run arbitrary code, so
#: genzoo reads czhuang's JSON export of the same 229 / 76 / 77 chorales at quarter-note resolution
#: (the resolution of the published NLL tables), pinned to a commit and checked by sha256.
JSB_URLS = [
    "https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/"
    "9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d/jsb-chorales-quarter.json",
]
JSB_CHECKSUM = "sha256:2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91"
JSB_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def parse_jsb(path: str | Path, split: str) -> list[tuple[str, Notes]]:
    """Pieces of one split of a JSB JSON file {"train"|"valid"|"test": [piece: [frame: [MIDI pitch]]]}.

    Each frame's pitches become notes one frame long: the format does not tell held from repeated notes,
    so nothing is lost that the piano-roll (the representation the NLL tables score) would keep."""
    import json

    if split not in JSB_SPLITS:
        raise GenzooError(f"unknown split {split!r} for jsb_chorales; choose one of {sorted(JSB_SPLITS)}")
    try:
        data = json.loads(Path(path).read_text())
        pieces = data[JSB_SPLITS[split]]
        out = []
        for i, piece in enumerate(pieces):
            notes = [(int(p), t, t + 1) for t, frame in enumerate(piece) for p in frame]
            if any(not 0 <= p < 128 for p, _, _ in notes) or not len(piece):
                raise ValueError(f"piece {i} has an empty body or pitches outside 0..127")
            out.append((f"jsb-{split}-{i:03d}", np.array(notes, dtype=np.int64).reshape(-1, 3)))
    except (ValueError, KeyError, TypeError) as e:
        raise GenzooError(f"{path} is not a JSB Chorales JSON file ({e})") from None
    return out


@register_dataset(
    "jsb_chorales",
    "JSB Chorales, Boulanger-Lewandowski's split (229/76/77), 88-key piano-rolls, quarter-note frames (download)",
)
def jsb_chorales(split: str = "train", seq_len: int = 64, **_: Any) -> ChoraleRolls:
    from genzoo.data.cache import fetch

    path = fetch(JSB_URLS, "jsb-chorales-quarter.json", JSB_CHECKSUM, "jsb_chorales")
    return ChoraleRolls(parse_jsb(path, split), seq_len, "jsb_chorales", steps_per_quarter=1)
