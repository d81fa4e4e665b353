"""Translation pairs and language labels from gettext message catalogs (`.mo` files), read offline.

Every Debian package that speaks more than English installs its translations as compiled catalogs under
`/usr/share/locale/<lang>/LC_MESSAGES/<program>.mo`: tens of thousands of human-translated interface
messages (git, coreutils, postgres, gnupg, ...), the same domain as the OPUS GNOME/KDE/Ubuntu corpora.

- `gettext_pairs`: source -> target messages for any language pair present (`source="en"` pairs each
  msgid with its msgstr; two locales are joined on the msgid they both translate).
- `gettext_languages`: which of several locales a translated message is written in (BERT fine-tuning).

Splits are by *program*, never by message: a catalog's name with its version stripped (`pg_dump-15` ->
`pg_dump`, `iso_639-3` -> `iso_639`) is hashed into train / val / test, so the test set is whole programs
no model has seen, and a message shared with a training program is dropped from val/test. What was read
(how many catalogs, a checksum of their list) is recorded in `info.extra`, so a result names its corpus.
The `.mo` format is parsed here directly (a header and two offset tables, see the GNU gettext manual):
Python's `gettext` keeps the catalog private and merges plural forms.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.text_tasks import PairDataset, pair_dataset_from_splits
from genzoo.data.tokenizers import PAD, Tokenizer, train_tokenizer
from genzoo.errors import GenzooError

LOCALE_ROOT = "/usr/share/locale"
MO_MAGIC = 0x950412DE


def read_mo(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) of one compiled catalog: the header entry, contexts and untranslated ones dropped;
    for plural messages the singular forms. Raises GenzooError on a file that is not a `.mo` catalog."""
    data = path.read_bytes()
    if len(data) < 20:
        raise GenzooError(f"{path.name} is not a gettext .mo catalog (too short)")
    for order in "<>":
        magic, _revision, n, orig, trans = struct.unpack(f"{order}5I", data[:20])
        if magic == MO_MAGIC:
            break
    else:
        raise GenzooError(f"{path.name} is not a gettext .mo catalog (bad magic number)")

    def string(table: int, i: int) -> bytes:
        length, offset = struct.unpack(f"{order}2I", data[table + 8 * i : table + 8 * i + 8])
        return data[offset : offset + length]

    raw = [(string(orig, i), string(trans, i)) for i in range(n)]
    charset = "utf-8"
    for key, value in raw:
        if key == b"":
            found = re.search(rb"charset=([-\w]+)", value)
            charset = found.group(1).decode() if found else charset
    out: list[tuple[str, str]] = []
    for key, value in raw:
        if not key or not value:
            continue
        key = key.split(b"\x04")[-1].split(b"\0")[0]  # drop a msgctxt, keep the singular
        value = value.split(b"\0")[0]
        try:
            src, tgt = key.decode(charset), value.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
        if src.strip() and tgt.strip():
            out.append((src, tgt))
    return out


def program_of(catalog: Path) -> str:
    """The program a catalog belongs to: its name without version suffixes (`postgres-15`, `iso_3166-2`)."""
    return re.sub(r"([-_.]?\d+)+$", "", catalog.stem) or catalog.stem


def program_split(program: str) -> str:
    """Fixed train / val / test (80 / 5 / 15 % of programs) by a hash of the program's name."""
    bucket = int(hashlib.sha1(program.encode()).hexdigest()[:8], 16) % 20
    return "test" if bucket < 3 else "val" if bucket == 3 else "train"


def catalogs(root: str | Path, lang: str) -> list[Path]:
    """The `.mo` files of `lang` under `root`, with one clear line when there are none."""
    folder = Path(root) / lang / "LC_MESSAGES"
    found = sorted(folder.glob("*.mo")) if folder.is_dir() else []
    if not found:
        raise GenzooError(f"no gettext catalogs (*.mo) for language {lang!r} in {folder}")
    return found


def corpus_facts(files: list[Path]) -> dict[str, Any]:
    """How many catalogs were read and a checksum of their names and sizes (what a result was measured on)."""
    listing = "\n".join(f"{p.parent.parent.name}/{p.name}:{p.stat().st_size}" for p in files)
    return {"catalogs": len(files), "catalogs_sha1": hashlib.sha1(listing.encode()).hexdigest()}


@functools.lru_cache(maxsize=16)
def _messages(root: str, lang: str) -> tuple[dict[str, dict[str, str]], tuple[Path, ...]]:
    """{program: {msgid: msgstr}} for one locale (the first translation of a msgid within a program)."""
    files = catalogs(root, lang)
    programs: dict[str, dict[str, str]] = {}
    for path in files:
        table = programs.setdefault(program_of(path), {})
        for src, tgt in read_mo(path):
            table.setdefault(src, tgt)
    return programs, tuple(files)


def _clean(text: str) -> str:
    """One line: a message's own line breaks and tabs become spaces (the pair stays one example)."""
    return " ".join(text.split())


def program_pairs(
    root: str, source: str, target: str, max_chars: int
) -> tuple[dict[str, list[tuple[str, str]]], list[Path]]:
    """{program: [(source text, target text)]}, deduplicated, both sides at most `max_chars` long."""
    tgt_programs, tgt_files = _messages(root, target)
    files = list(tgt_files)
    if source != "en":
        src_programs, src_files = _messages(root, source)
        files += list(src_files)
    out: dict[str, list[tuple[str, str]]] = {}
    for program in sorted(tgt_programs):
        table = tgt_programs[program]
        if source == "en":
            raw = list(table.items())
        else:
            other = src_programs.get(program, {})
            raw = [(other[k], v) for k, v in table.items() if k in other]
        pairs = sorted({(_clean(s), _clean(t)) for s, t in raw})
        pairs = [(s, t) for s, t in pairs if len(s) <= max_chars and len(t) <= max_chars]
        if pairs:
            out[program] = pairs
    return out, files


def split_by_program(by_program: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Pairs per split; a source text seen in training is dropped from val and test (no near-copies)."""
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for program, pairs in by_program.items():
        splits[program_split(program)].extend(pairs)
    seen: set[str] = set()
    train: list[tuple[str, str]] = []
    for s, t in splits["train"]:
        if s not in seen:
            seen.add(s)
            train.append((s, t))
    splits["train"] = train
    for name in ("val", "test"):
        kept: list[tuple[str, str]] = []
        for s, t in splits[name]:
            if s not in seen:
                seen.add(s)
                kept.append((s, t))
        splits[name] = kept
    return splits


@register_dataset(
    "gettext_pairs", "translated interface messages from gettext .mo catalogs (en->fr by default; held-out programs)"
)
def gettext_pairs(
    split: str = "train",
    root: str = LOCALE_ROOT,
    source: str = "en",
    target: str = "fr",
    max_chars: int = 160,
    max_len: int = 96,
    tokenizer: str = "bpe",
    vocab_size: int = 4000,
) -> PairDataset:
    """`source` -> `target` messages of every program both languages cover; one shared BPE (trained on the
    train split's both sides) so that placeholders (`%s`, `--force`) get the same ids on both sides and the
    copy head of `seq2seq` can copy them."""
    by_program, files = program_pairs(str(root), source, target, max_chars)
    splits = split_by_program(by_program)
    if not splits["train"]:
        raise GenzooError(f"no {source}->{target} message pairs in the catalogs under {root}")
    chosen = [p for name in ("train", "val", "test") for p in splits[name]] if split == "all" else splits[split]
    if not chosen:
        raise GenzooError(f"no held-out programs in the {split!r} split of the catalogs under {root}")
    data = pair_dataset_from_splits(
        f"gettext_{source}_{target}", splits["train"], chosen, "translation", max_len, tokenizer, vocab_size
    )
    data.info.name = "gettext_pairs"
    data.info.extra.update(
        corpus_facts(files),
        source=source,
        target=target,
        programs={k: sum(program_split(p) == k for p in by_program) for k in ("train", "val", "test")},
    )
    return data


class LabelledTexts(Dataset):
    """(ids padded to `max_len`, label) pairs: fixed length, so a batch is a plain stack."""

    def __init__(
        self, texts: list[str], labels: list[int], tokenizer: Tokenizer, info: DataInfo, objective: str = "label"
    ) -> None:
        if objective not in ("label", "mlm"):
            raise GenzooError(f"objective must be label or mlm, got {objective!r}")
        self.texts, self.labels, self.tokenizer, self.info = texts, labels, tokenizer, info
        self.max_len = int(info.extra["max_len"])
        self.objective = objective

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from genzoo.data.tokenizers import BOS

        ids = [BOS] + self.tokenizer.encode(self.texts[i])[: self.max_len - 1]
        ids += [PAD] * (self.max_len - len(ids))
        return torch.tensor(ids, dtype=torch.long), torch.tensor(self.labels[i], dtype=torch.long)

    def collate(self, items: list[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """A batch dict; with objective "mlm" without the labels, so BERT pretrains on the same texts."""
        batch = {"ids": torch.stack([x for x, _ in items])}
        if self.objective == "label":
            batch["labels"] = torch.stack([y for _, y in items])
        return batch


@register_dataset(
    "gettext_languages", "which locale a translated interface message is written in (held-out programs)"
)
def gettext_languages(
    split: str = "train",
    root: str = LOCALE_ROOT,
    languages: str = "ca,es,fr,gl,it,pt,ro",
    per_language: int = 3000,
    max_chars: int = 160,
    max_len: int = 64,
    vocab_size: int = 4000,
    objective: str = "label",
) -> LabelledTexts:
    """Translated messages labelled by locale, programs split as in `gettext_pairs`, at most `per_language`
    train messages per locale (evenly spread over programs by hash). Close Romance languages make it a
    task about words and sub-words the held-out programs bring, not about the alphabet. objective="mlm"
    gives the same texts without labels (BERT's pretraining)."""
    langs = [x.strip() for x in languages.split(",") if x.strip()]
    if len(langs) < 2:
        raise GenzooError(f"gettext_languages needs at least two languages, got {languages!r}")
    texts: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    files: list[Path] = []
    for label, lang in enumerate(langs):
        by_program, found = program_pairs(str(root), "en", lang, max_chars)
        files += found
        for name, pairs in split_by_program(by_program).items():
            chosen = sorted({t for _, t in pairs}, key=lambda t: hashlib.sha1(t.encode()).hexdigest())
            limit = per_language if name == "train" else max(1, per_language // 4)
            texts[name] += [(t, label) for t in chosen[:limit]]
    if split not in texts:
        raise GenzooError(f"gettext_languages has train, val and test splits, not {split!r}")
    tok = train_tokenizer("bpe", "\n".join(t for t, _ in texts["train"]), vocab_size)
    info = DataInfo(
        "gettext_languages",
        "text",
        None,
        langs,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok.to_json(), "max_len": max_len, **corpus_facts(files)},
    )
    rows = texts[split]
    if not rows:
        raise GenzooError(f"no messages in the {split!r} split of gettext_languages under {root}")
    return LabelledTexts([t for t, _ in rows], [y for _, y in rows], tok, info, objective)
