"""Music from any corpus: a folder of MIDI / MusicXML / kern / ABC files, or a query of music21's offline
corpus (`composer=`, `collection=`), as the event tokens or piano-rolls of `genzoo.data.music`.

    genzoo train music_lstm --data path/to/midi_folder --out runs/mine
    genzoo train music_lstm --data music -d composer=palestrina -d limit=120 --out runs/palestrina
    genzoo train pianoroll_lstm --data music -d collection=essenFolksong -d representation=pianoroll ...

Files are read in sorted order (by path relative to the folder or the corpus root), the first `limit` are
kept, and splits are fixed by that order as for the chorales (every 10th piece test, every 10th + 1 val).
MIDI files are read by genzoo's MIDI codec, everything else by music21; each file's notes are cached in
the genzoo cache, keyed by its path, size and modification time, so a folder is parsed once. A file
that cannot be read is skipped and named in the dataset's info, which also records what was found: the
number of files and pieces, a checksum of the file list, and the corpus's most common time signature (which
`compose --bars N` counts bars in).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.data.music import ChoraleEvents, ChoraleRolls, Notes, merge_unisons, read_midi, split_pieces
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")
MUSIC_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES
REPRESENTATIONS = ("events", "pianoroll")


# -- where the files are ----------------------------------------------------------------------------------
def holds_music(path: str | Path) -> bool:
    """True for a music file, or a folder with at least one music file in it (images go elsewhere)."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() in MUSIC_SUFFIXES
    return p.is_dir() and any(f.suffix.lower() in MUSIC_SUFFIXES for f in p.rglob("*"))


def folder_files(path: str | Path) -> tuple[Path, list[Path]]:
    """(root, music files under it sorted by relative path); a single file is its own folder."""
    p = Path(path)
    if not p.exists():
        raise GenzooError(f"data path does not exist: {path}")
    if p.is_file():
        return p.parent, [p]
    files = sorted((f for f in p.rglob("*") if f.suffix.lower() in MUSIC_SUFFIXES), key=lambda f: f.relative_to(p))
    if not files:
        raise GenzooError(f"no music files ({', '.join(MUSIC_SUFFIXES)}) in {path}")
    return p, files


def corpus_files(composer: str | None = None, collection: str | None = None) -> tuple[Path, list[Path]]:
    """(corpus root, score files) of music21's offline corpus by a composer and/or in a collection (a
    top-level folder of the corpus such as 'essenFolksong' or 'palestrina'), sorted by relative path."""
    try:
        from music21 import common, corpus
    except ImportError:
        raise GenzooError("a music21 corpus query needs music21 (pip install music21)") from None
    root = Path(common.getCorpusFilePath())
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
    found = [Path(p) for p in (corpus.getComposer(composer) if composer else corpus.getPaths())]
    if composer and not found:
        raise GenzooError(f"music21's corpus has nothing by composer {composer!r}; its folders: {', '.join(folders)}")
    if collection:
        if collection not in folders:
            raise GenzooError(f"music21's corpus has no collection {collection!r}; choose one of: {', '.join(folders)}")
        found = [p for p in found if p.relative_to(root).parts[0] == collection]
    files = sorted((p for p in found if p.suffix.lower() in MUSIC_SUFFIXES), key=lambda p: p.relative_to(root))
    if not files:
        raise GenzooError(f"music21's corpus has no scores for composer={composer} collection={collection}")
    return root, files


def file_list_checksum(root: Path, files: list[Path]) -> str:
    """sha256 of the files' relative paths and sizes: two runs with the same checksum saw the same files."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root).as_posix()}\t{f.stat().st_size}\n".encode())
    return "sha256:" + h.hexdigest()


# -- reading and caching ------------------------------------------------------------------------------------
def midi_time_signature(path: Path) -> tuple[int, int] | None:
    """The first time-signature meta event (FF 58 04 nn dd ...) of a MIDI file, if it has one."""
    data = path.read_bytes()
    at = data.find(b"\xff\x58\x04")
    return (data[at + 3], 2 ** data[at + 4]) if at >= 0 and at + 4 < len(data) else None


def parse_file(path: Path) -> tuple[list[Notes], tuple[int, int] | None]:
    """Notes of every piece in one file (an ABC file may hold many tunes) and its first time signature."""
    if path.suffix.lower() in MIDI_SUFFIXES:
        return [read_midi(path)], midi_time_signature(path)
    from music21 import converter, stream

    from genzoo.data.music import STEPS_PER_QUARTER

    parsed = converter.parse(str(path))
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    pieces, meter = [], None
    for score in scores:
        score = score.stripTies()
        if meter is None:
            ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
            meter = (int(ts.numerator), int(ts.denominator)) if ts is not None else None
        notes = []
        for n in score.flatten().notes:
            s = round(float(n.offset) * STEPS_PER_QUARTER)
            e = round(float(n.offset + n.quarterLength) * STEPS_PER_QUARTER)
            notes += [(p.midi, s, e) for p in n.pitches]
        pieces.append(merge_unisons(np.array(notes, dtype=np.int64).reshape(-1, 3)))
    return pieces, meter


def read_pieces(root: Path, files: list[Path]) -> tuple[list[tuple[str, Notes]], list[str], Counter]:
    """(name, notes) of every piece of the files, the files that could not be read, and the time signatures
    seen (one per file). Parsed notes are cached per file in `<cache>/music/`."""
    from genzoo.data.cache import cache_dir

    cache = cache_dir() / "music" / (hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16] + ".npz")
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache) as z:
            known = {k: z[k] for k in z.files}
    pieces, skipped, meters, fresh = [], [], Counter(), 0
    for f in files:
        rel = f.relative_to(root).as_posix()
        st = f.stat()
        key = hashlib.sha1(f"{rel}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:20]
        if f"n{key}" not in known:
            try:
                parts, meter = parse_file(f)
            except Exception as e:  # noqa: BLE001  (music21 raises many kinds; one bad file must not stop a corpus)
                skipped.append(f"{rel} ({type(e).__name__})")
                continue
            known[f"n{key}"] = np.concatenate(
                [np.column_stack([np.full(len(n), i), n]) for i, n in enumerate(parts)] or [np.zeros((0, 4))]
            ).astype(np.int64).reshape(-1, 4)
            known[f"m{key}"] = np.array(meter if meter else (0, 0), dtype=np.int64)
            fresh += 1
            if fresh % 25 == 0:  # save progress: parsing is the slow part
                _save(cache, known)
        rows, meter = known[f"n{key}"], tuple(int(v) for v in known[f"m{key}"])
        if meter[0]:
            meters[meter] += 1
        count = int(rows[:, 0].max()) + 1 if len(rows) else 0
        for i in range(count):
            notes = rows[rows[:, 0] == i, 1:]
            if len(notes):
                pieces.append((rel if count == 1 else f"{rel}#{i}", notes))
    if fresh:
        _save(cache, known)
    return pieces, skipped, meters


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


# -- the dataset ------------------------------------------------------------------------------------------------
def music_dataset(
    split: str,
    root: Path,
    files: list[Path],
    source: str,
    limit: int | None,
    seq_len: int | None,
    representation: str,
) -> ChoraleEvents | ChoraleRolls:
    """Event or piano-roll windows of one split of the files' pieces, with what was found in `.info`."""
    if representation not in REPRESENTATIONS:
        raise GenzooError(f"representation={representation} is not one of {', '.join(REPRESENTATIONS)}")
    if limit is not None and int(limit) < 1:
        raise GenzooError(f"limit={limit} must be at least 1")
    files = files[: int(limit)] if limit else files
    pieces, skipped, meters = read_pieces(root, files)
    chosen = split_pieces(pieces, split)
    if not chosen:
        why = f"limit={limit} leaves" if limit else f"{source} has"
        raise GenzooError(f"{why} {len(pieces)} readable piece(s), so the {split} split is empty (every 10th piece "
                          "is test, every 10th + 1 val); give at least 3 pieces")
    name = f"music({source})"
    data = (ChoraleEvents(chosen, int(seq_len or 256), name) if representation == "events"
            else ChoraleRolls(chosen, int(seq_len or 128), name))
    meter = meters.most_common(1)[0][0] if meters else (4, 4)
    data.info.extra.update({
        "source": source,
        "files": len(files),
        "pieces": len(pieces),
        "split_pieces": len(chosen),
        "file_list_checksum": file_list_checksum(root, files),
        "time_signature": list(meter),
        "skipped_files": skipped[:20],
    })
    return data


@register_dataset(
    "music",
    "MIDI/MusicXML/kern/ABC files as event tokens or piano-rolls: path=DIR, or music21's corpus by "
    "composer=NAME / collection=FOLDER; limit=, seq_len=, representation=events|pianoroll",
)
def music(
    split: str = "train",
    path: str | None = None,
    composer: str | None = None,
    collection: str | None = None,
    limit: int | None = None,
    seq_len: int | None = None,
    representation: str = "events",
    **unknown: Any,
) -> ChoraleEvents | ChoraleRolls:
    if unknown:  # refused here too, so the Python API and a folder path (which skip cli's check) say so
        raise GenzooError(f"dataset 'music' does not take option(s) {', '.join(sorted(unknown))}; its options: "
                          "path, composer, collection, limit, seq_len, representation")
    if path is not None and (composer or collection):
        raise GenzooError("give either path= (a folder of files) or composer= / collection= (music21's corpus)")
    if path is not None:
        root, files = folder_files(path)
        source = Path(path).name
    elif composer or collection:
        root, files = corpus_files(composer, collection)
        source = ",".join(f"{k}={v}" for k, v in (("composer", composer), ("collection", collection)) if v)
    else:
        raise GenzooError("dataset 'music' needs path=DIR, or composer=NAME / collection=FOLDER of music21's corpus")
    return music_dataset(split, root, files, source, limit, seq_len, representation)
