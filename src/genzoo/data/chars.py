"""Character windows of Python's own documentation (`pydoc_data.topics`, ~465k characters, offline).

The text is split by position (first 90% train, next 5% validation, last 5% test) so no window of the
test split overlaps a training window; items are `(codes, -1)` with codes a (seq_len,) long tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError


def pydoc_text() -> str:
    from pydoc_data.topics import topics

    return "".join(topics[k] for k in sorted(topics))


class CharWindows(Dataset):
    """Non-overlapping windows of character codes; `info.extra["vocab"]` maps codes back to characters."""

    def __init__(self, codes: Tensor, seq_len: int, info: DataInfo) -> None:
        n = len(codes) // seq_len
        if n < 1:
            raise GenzooError(f"text of {len(codes)} characters is shorter than one window of {seq_len}")
        self.windows = codes[: n * seq_len].view(n, seq_len).contiguous()
        self.info = info

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.windows[i], -1

    def decode(self, codes: Tensor) -> str:
        vocab = self.info.extra["vocab"]
        return "".join(vocab[int(c)] for c in codes.flatten())


@register_dataset("pydoc_chars", "Python's pydoc topics as character windows (kind text), split by position")
def pydoc_chars(split: str = "train", seq_len: int = 64, **_: Any) -> CharWindows:
    text = pydoc_text()
    vocab = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocab)}
    codes = torch.tensor([index[c] for c in text], dtype=torch.long)
    a, b = int(0.9 * len(codes)), int(0.95 * len(codes))
    part = {"train": codes[:a], "val": codes[a:b], "test": codes[b:], "all": codes}[split]
    info = DataInfo("pydoc_chars", "text", (seq_len,), None, None, {"vocab": vocab, "vocab_size": len(vocab)})
    return CharWindows(part, seq_len, info)
