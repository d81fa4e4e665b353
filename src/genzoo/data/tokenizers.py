"""Tokenizers that travel inside a model's config.json as a JSON string (never a pickle).

Two kinds share one interface (`encode`, `decode`, `vocab_size`, `to_json`):

- `CharTokenizer`: one id per character seen in the training text, with a *byte fallback*: any other
  character is written as its UTF-8 bytes, so every string round-trips exactly and no `<unk>` exists.
- `BPETokenizer`: byte-level BPE trained with HF `tokenizers` (GPT-2's scheme); also round-trips any UTF-8.
- `PretrainedTokenizer`: a HF `tokenizers` tokenizer brought with a converted checkpoint (GPT-2's BPE), kept
  exactly: its own ids and its own special tokens.

For the tokenizers genzoo trains, ids 0..4 are the special tokens every family shares (pad, bos, eos, sep,
mask) so that seq2seq, BERT and the generation core agree on them without asking the tokenizer.
"""

from __future__ import annotations

import json
from typing import Any

from genzoo.errors import GenzooError

SPECIALS = ("<pad>", "<bos>", "<eos>", "<sep>", "<mask>")
PAD, BOS, EOS, SEP, MASK = range(len(SPECIALS))
N_SPECIAL = len(SPECIALS)


class Tokenizer:
    """Interface: text <-> ids. `decode` refuses ids outside the vocabulary with one clear line."""

    kind = ""

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Any, skip_special: bool = True) -> str:
        raise NotImplementedError

    def to_json(self) -> str:
        raise NotImplementedError

    def _check_ids(self, ids: Any) -> list[int]:
        ids = [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise GenzooError(f"token id {bad[0]} is outside the vocabulary (0..{self.vocab_size - 1})")
        return ids


class CharTokenizer(Tokenizer):
    """Specials, then the 256 byte values, then the characters of the training text (sorted)."""

    kind = "char"

    def __init__(self, chars: str = "") -> None:
        self.chars = "".join(sorted(set(chars)))
        self._byte0 = N_SPECIAL
        self._char0 = N_SPECIAL + 256
        self._index = {c: self._char0 + i for i, c in enumerate(self.chars)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return self._char0 + len(self.chars)

    def encode(self, text: str) -> list[int]:
        index, b0 = self._index, self._byte0
        out: list[int] = []
        for c in text:
            i = index.get(c)
            if i is not None:
                out.append(i)
            else:
                out.extend(b0 + b for b in c.encode("utf-8", errors="surrogatepass"))
        return out

    def decode(self, ids: Any, skip_special: bool = True) -> str:
        buf = bytearray()
        for i in self._check_ids(ids):
            if i >= self._char0:
                buf += self.chars[i - self._char0].encode("utf-8")
            elif i >= self._byte0:
                buf.append(i - self._byte0)
            elif not skip_special:
                buf += SPECIALS[i].encode()
        return buf.decode("utf-8", errors="replace")

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "chars": self.chars})


class BPETokenizer(Tokenizer):
    """Byte-level BPE (HF `tokenizers`): 256 byte symbols, merges learned from the training text."""

    kind = "bpe"

    def __init__(self, hf: Any) -> None:
        self.hf = hf

    @classmethod
    def train(cls, text: str, vocab_size: int = 1024, isolate_punctuation: bool = False) -> BPETokenizer:
        """`isolate_punctuation` makes every punctuation mark its own pre-token, so token boundaries fall at
        each mark: extractive QA needs that ("=-1" must split before "-1" for the span "-1" to exist)."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < N_SPECIAL + 256:
            raise GenzooError(f"BPE vocab_size must be at least {N_SPECIAL + 256}, got {vocab_size}")
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        if isolate_punctuation:
            hf.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.Punctuation(behavior="isolated"), hf.pre_tokenizer]
            )
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        lines = text.splitlines(keepends=True)
        hf.train_from_iterator([lines[i : i + 1000] for i in range(0, len(lines), 1000)], trainer=trainer)
        return cls(hf)

    @property
    def vocab_size(self) -> int:
        return int(self.hf.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Any, skip_special: bool = True) -> str:
        ids = self._check_ids(ids)
        if skip_special:
            ids = [i for i in ids if i >= N_SPECIAL]
        return str(self.hf.decode(ids, skip_special_tokens=False))

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "tokenizer": self.hf.to_str()})


class PretrainedTokenizer(Tokenizer):
    """A tokenizer that came with a checkpoint from elsewhere: ids as its model learned them (so no genzoo
    specials at 0..4); `skip_special` drops the tokenizer's own special tokens (GPT-2's <|endoftext|>)."""

    kind = "hf"

    def __init__(self, hf: Any) -> None:
        self.hf = hf

    @property
    def vocab_size(self) -> int:
        return int(self.hf.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Any, skip_special: bool = True) -> str:
        return str(self.hf.decode(self._check_ids(ids), skip_special_tokens=skip_special))

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "tokenizer": self.hf.to_str()})


def tokenizer_from_json(text: str) -> Tokenizer:
    """Rebuild a tokenizer from `to_json()`; the empty string means a pure byte tokenizer."""
    if not text:
        return CharTokenizer("")
    try:
        data = json.loads(text)
        kind = data["kind"]
        if kind == "char":
            return CharTokenizer(data["chars"])
        if kind in ("bpe", "hf"):
            from tokenizers import Tokenizer as HFTokenizer

            cls = BPETokenizer if kind == "bpe" else PretrainedTokenizer
            return cls(HFTokenizer.from_str(data["tokenizer"]))
    except Exception as e:  # noqa: BLE001 - json, key and the tokenizers library's own errors alike
        raise GenzooError(
            f"the saved tokenizer is corrupt ({str(e).splitlines()[0] if str(e) else e})"
        ) from None
    raise GenzooError(f"unknown tokenizer kind {kind!r}; known: char, bpe, hf")


def train_tokenizer(kind: str, text: str, vocab_size: int = 1024) -> Tokenizer:
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "bpe":
        return BPETokenizer.train(text, vocab_size)
    raise GenzooError(f"unknown tokenizer {kind!r}; choose char or bpe")
