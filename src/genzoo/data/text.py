"""Text corpora as token streams: `pydoc` (offline), `tiny_shakespeare`, `wikitext2` (downloads), `textfile`.

A corpus is cut into splits by *contiguous chunks* (every 20th 4 kB chunk to val, the next to test), so
validation text is unseen prose rather than random characters torn out of training sentences. The
tokenizer is trained on the train split only and travels in `info.extra["tokenizer"]` (JSON), so a model
built from the dataset stores it in its config. Token ids are cached as `.npy` under `$GENZOO_CACHE/text` and
memory-mapped: batching slices a window out of one contiguous array, with no per-example Python objects.

Items are `(block_size + 1,)` int64 windows: inputs are `w[:-1]`, targets `w[1:]`. The train split draws a
random window per item (nanoGPT's `get_batch`); val/test walk non-overlapping windows so metrics repeat.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.cache import cache_dir, fetch
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.tokenizers import Tokenizer, tokenizer_from_json, train_tokenizer
from genzoo.errors import GenzooError

CHUNK = 4096
SHAKESPEARE = (
    ["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"],
    "sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
)
WIKITEXT2 = (
    ["https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"],
    "sha256:92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
)


def pydoc_text() -> str:
    """Python's own documentation topics (`pydoc_data.topics`): ~465k characters of English prose."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics)) + "\n"


def split_text(text: str, split: str, chunk: int = CHUNK) -> str:
    """Contiguous-chunk split: chunk i goes to val when i % 20 == 18, test when 19, else train."""
    if split == "all":
        return text
    want = {"train": set(range(18)), "val": {18}, "test": {19}}[split]
    return "".join(text[i : i + chunk] for i in range(0, len(text), chunk) if (i // chunk) % 20 in want)


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file, or one clear line saying why it cannot be used."""
    p = Path(path)
    if not p.is_file():
        raise GenzooError(f"text file not found: {path}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GenzooError(
            f"{path} is not UTF-8 text (bad byte at offset {e.start}); convert it to UTF-8 first"
        ) from None
    if not text.strip():
        raise GenzooError(f"{path} is empty")
    return text


class TokenStream(Dataset):
    """One long array of token ids cut into `(block_size + 1)`-token windows."""

    def __init__(
        self, tokens: np.ndarray, block_size: int, info: DataInfo, tokenizer: Tokenizer, random_windows: bool
    ) -> None:
        if len(tokens) < block_size + 2:
            raise GenzooError(
                f"text {info.name!r} has {len(tokens)} tokens, too few for block_size {block_size}"
            )
        self.tokens = tokens
        self.block_size = block_size
        self.info = info
        self.tokenizer = tokenizer
        self.random_windows = random_windows

    def __len__(self) -> int:
        return (len(self.tokens) - 1) // self.block_size

    def __getitem__(self, i: int) -> Tensor:
        if self.random_windows:
            start = int(torch.randint(0, len(self.tokens) - self.block_size - 1, ()))
        else:
            start = i * self.block_size
        return torch.from_numpy(np.asarray(self.tokens[start : start + self.block_size + 1], dtype=np.int64))

    def take(self, index: Tensor) -> Tensor:
        """The windows of items `index` in one gather (random windows: one random start per item)."""
        if self.random_windows:
            starts = torch.randint(0, len(self.tokens) - self.block_size - 1, (len(index),)).numpy()
        else:
            starts = index.numpy() * self.block_size
        offsets = np.arange(self.block_size + 1)
        return torch.from_numpy(np.asarray(self.tokens[starts[:, None] + offsets], dtype=np.int64))

    def batch(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """A (batch_size, block_size + 1) batch of random windows, straight from the array."""
        starts = torch.randint(0, len(self.tokens) - self.block_size - 1, (batch_size,), generator=generator)
        offsets = np.arange(self.block_size + 1)
        return torch.from_numpy(np.asarray(self.tokens[starts.numpy()[:, None] + offsets], dtype=np.int64))


def _cached(key: str, make: Any, suffix: str) -> Path:
    """Path of a cache file named by `key`, creating it with `make(tmp_path)` (atomically) when absent."""
    path = cache_dir() / "text" / f"{key}{suffix}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        make(tmp)
        os.replace(tmp, path)
    return path


def token_stream(
    name: str,
    train_text: str,
    text: str,
    split: str,
    tokenizer: str = "char",
    vocab_size: int = 1024,
    block_size: int = 128,
    **_: Any,
) -> TokenStream:
    """Tokenize `text` (the wanted split) with a tokenizer trained on `train_text`; cache + memory-map."""
    if block_size < 1:
        raise GenzooError(f"block_size must be at least 1, got {block_size}")
    digest = hashlib.sha1(train_text.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
    tag = f"{name}-{digest}-{tokenizer}{vocab_size if tokenizer == 'bpe' else ''}"
    tok_path = _cached(
        tag,
        lambda p: Path(p).write_text(train_tokenizer(tokenizer, train_text, vocab_size).to_json()),
        ".tokenizer.json",
    )
    tok_json = tok_path.read_text()
    tok = tokenizer_from_json(tok_json)
    dtype = np.uint16 if tok.vocab_size < 65536 else np.int32

    def write_ids(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, np.asarray(tok.encode(text), dtype=dtype))

    part_digest = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
    ids = np.load(_cached(f"{tag}-{split}-{part_digest}", write_ids, ".npy"), mmap_mode="r")
    info = DataInfo(
        name,
        "text",
        None,
        None,
        None,
        {
            "vocab_size": tok.vocab_size,
            "tokenizer": tok_json,
            "block_size": block_size,
            "chars_per_token": len(text) / max(len(ids), 1),
            "tokens": int(len(ids)),
            "chars": len(text),
        },
    )
    return TokenStream(ids, block_size, info, tok, random_windows=split == "train")


def chunked_stream(name: str, text: str, split: str, **options: Any) -> TokenStream:
    """A token stream over one text split by contiguous chunks (chunks shrink for short texts)."""
    chunk = max(16, min(CHUNK, len(text) // 40))
    return token_stream(
        name, split_text(text, "train", chunk), split_text(text, split, chunk), split, **options
    )


@register_dataset("pydoc", "Python's documentation text (~465k chars, offline); char or bpe tokens")
def pydoc(split: str = "train", **options: Any) -> TokenStream:
    return chunked_stream("pydoc", pydoc_text(), split, **options)


@register_dataset("tiny_shakespeare", "Karpathy's tiny-shakespeare, 1.1M chars (download, sha256-checked)")
def tiny_shakespeare(split: str = "train", **options: Any) -> TokenStream:
    urls, checksum = SHAKESPEARE
    path = fetch(urls, "input.txt", checksum, "tiny_shakespeare")
    return chunked_stream("tiny_shakespeare", read_text_file(path), split, **options)


@register_dataset("wikitext2", "WikiText-2 (raw tokens), 2M words (download, sha256-checked)")
def wikitext2(split: str = "train", **options: Any) -> TokenStream:
    """WikiText-2 v1 ships its own train/valid/test files; those are the splits."""
    urls, checksum = WIKITEXT2
    path = fetch(urls, "wikitext-2-v1.zip", checksum, "wikitext2")
    try:
        with zipfile.ZipFile(path) as z:
            texts = {
                s: io.TextIOWrapper(z.open(f"wikitext-2/wiki.{s}.tokens"), encoding="utf-8").read()
                for s in ("train", "valid", "test")
            }
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as e:
        raise GenzooError(f"{path} is not the WikiText-2 archive ({e})") from None
    texts["all"] = texts["train"] + texts["valid"] + texts["test"]
    member = {"val": "valid"}.get(split, split)
    return token_stream("wikitext2", texts["train"], texts[member], split, **options)


@register_dataset("textfile", "your own UTF-8 text file: load('textfile', path=...)")
def textfile(split: str = "train", path: str | None = None, **options: Any) -> TokenStream:
    if path is None:
        raise GenzooError("dataset 'textfile' needs path=... (a UTF-8 text file)")
    return chunked_stream(Path(path).stem, read_text_file(path), split, **options)
