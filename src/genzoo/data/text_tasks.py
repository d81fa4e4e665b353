"""Offline sequence-to-sequence tasks built from real text that ships on the machine.

- `translation_en_fr`: 1441 English -> French names from the Unicode CLDR, as shipped in Babel (countries,
  languages, currencies, scripts, month and day names). Real human translations, short phrases.
- `docstring_summaries`: Python standard-library docstrings (parsed with `ast`, nothing imported): the
  source is the docstring's body, the target its first line — the summary its author wrote.

Splits are fixed by a hash of the source text (90 / 5 / 5 train / val / test), so they never move when
the list grows. Items are `(src_ids, tgt_ids)`; `collate` pads into a dict the `seq2seq` model reads.
The tokenizer (characters of the train split with byte fallback, or with tokenizer="bpe" a joint byte-level
BPE of both sides) travels in `info.extra["tokenizer"]`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from genzoo.data.cache import cache_dir
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.tokenizers import BOS, EOS, PAD, BPETokenizer, CharTokenizer, Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError


class PairDataset(Dataset):
    """(source, target) text pairs as token ids; targets are wrapped in <bos> ... <eos>."""

    def __init__(
        self, pairs: list[tuple[str, str]], tokenizer: Tokenizer, info: DataInfo, max_len: int = 256
    ) -> None:
        if not pairs:
            raise GenzooError(f"dataset {info.name!r} has no pairs for this split")
        self.pairs = pairs
        self.tokenizer = tokenizer
        self.info = info
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        src, tgt = self.pairs[i]
        s = self.tokenizer.encode(src)[: self.max_len]
        t = [BOS] + self.tokenizer.encode(tgt)[: self.max_len - 2] + [EOS]
        return torch.tensor(s, dtype=torch.long), torch.tensor(t, dtype=torch.long)

    @staticmethod
    def collate(items: list[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        src = pad_sequence([s for s, _ in items], batch_first=True, padding_value=PAD)
        tgt = pad_sequence([t for _, t in items], batch_first=True, padding_value=PAD)
        return {"src": src, "tgt": tgt}

    @property
    def sources(self) -> list[str]:
        return [s for s, _ in self.pairs]

    @property
    def targets(self) -> list[str]:
        return [t for _, t in self.pairs]


def _bucket(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % 20


def split_pairs(pairs: list[tuple[str, str]], split: str) -> list[tuple[str, str]]:
    if split == "all":
        return pairs
    want = {"train": set(range(18)), "val": {18}, "test": {19}}[split]
    return [p for p in pairs if _bucket(p[0]) in want]


def pair_dataset(
    name: str, pairs: list[tuple[str, str]], split: str, task: str, max_len: int = 256, **options: Any
) -> PairDataset:
    """The split (by source hash) of `pairs`, with a tokenizer trained on the train split."""
    return pair_dataset_from_splits(
        name, split_pairs(pairs, "train"), split_pairs(pairs, split), task, max_len, **options
    )


def pair_dataset_from_splits(
    name: str,
    train: list[tuple[str, str]],
    pairs: list[tuple[str, str]],
    task: str,
    max_len: int = 256,
    tokenizer: str = "char",
    vocab_size: int = 1000,
) -> PairDataset:
    """`pairs` as a PairDataset whose tokenizer (one, shared by source and target) is trained on `train`.

    tokenizer="bpe" trains a *joint* byte-level BPE on both sides, so a word spelled the same in source and
    target gets the same ids — what lets the copy mechanism of `seq2seq` copy whole pieces.
    """
    text = "\n".join(s + "\n" + t for s, t in train)
    if tokenizer == "char":
        tok: Tokenizer = CharTokenizer.train(text)
    elif tokenizer == "bpe":
        digest = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
        path = cache_dir() / "text" / f"{name}-{digest}-bpe{vocab_size}.tokenizer.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(BPETokenizer.train(text, vocab_size).to_json())
            os.replace(tmp, path)
        tok = tokenizer_from_json(path.read_text())
    else:
        raise GenzooError(f"unknown tokenizer {tokenizer!r}; choose char or bpe")
    info = DataInfo(
        name,
        "text",
        None,
        None,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok.to_json(), "task": task, "max_len": max_len},
    )
    return PairDataset(pairs, tok, info, max_len)


@functools.lru_cache(maxsize=1)
def cldr_pairs(target: str = "fr") -> list[tuple[str, str]]:
    """English -> `target` names from CLDR (Babel): territories, languages, currencies, ..."""
    from babel import Locale

    en, other = Locale("en"), Locale(target)
    pairs: dict[str, str] = {}
    for attr in ("territories", "languages", "currencies", "scripts"):
        a, b = getattr(en, attr), getattr(other, attr)
        for key in sorted(a):
            if key in b and a[key] and b[key]:
                pairs.setdefault(a[key], b[key])
    for attr in ("months", "days"):
        a, b = getattr(en, attr)["format"]["wide"], getattr(other, attr)["format"]["wide"]
        for key in sorted(a):
            pairs.setdefault(a[key], b[key])
    return sorted(pairs.items())


@functools.lru_cache(maxsize=1)
def docstring_pairs(max_src: int = 300, max_tgt: int = 100) -> list[tuple[str, str]]:
    """(body, first line) of every standard-library docstring with a one-line summary and a body.

    Parsing the library takes seconds, so the pairs are cached as JSON per Python version.
    """
    lib = Path(sysconfig.get_paths()["stdlib"])
    cache = (
        cache_dir()
        / "text"
        / f"docstrings-{sys.version_info[0]}.{sys.version_info[1]}-{max_src}-{max_tgt}.json"
    )
    if cache.is_file():
        return [tuple(p) for p in json.loads(cache.read_text())]  # type: ignore[misc]
    pairs: dict[str, str] = {}
    for path in sorted(lib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                continue
            doc = ast.get_docstring(node)
            if not doc:
                continue
            head, _, body = doc.partition("\n\n")
            head, body = " ".join(head.split()), " ".join(body.split())
            if 10 <= len(head) <= max_tgt and "\n" not in head and len(body) >= 40:
                pairs.setdefault(body[:max_src], head)
    out = sorted(pairs.items())
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, cache)
    return out


@register_dataset("translation_en_fr", "English -> French CLDR names from Babel (1441 real pairs, offline)")
def translation_en_fr(split: str = "train", **options: Any) -> PairDataset:
    return pair_dataset("translation_en_fr", cldr_pairs("fr"), split, "translation", **{"max_len": 64, **options})


@register_dataset("docstring_summaries", "stdlib docstring body -> its first line (offline summarisation)")
def docstring_summaries(split: str = "train", **options: Any) -> PairDataset:
    return pair_dataset(
        "docstring_summaries", docstring_pairs(), split, "summarization", **{"max_len": 320, **options}
    )


def first_sentence(text: str) -> str:
    """The lead-sentence baseline for summarisation: text up to the first '. ' (or all of it)."""
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]
