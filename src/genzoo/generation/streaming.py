"""Turning a stream of token ids into a stream of text, one printable piece at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class TextStreamer:
    """Decode ids incrementally; hold back a trailing partial UTF-8 character (U+FFFD) until complete.

    Byte-level tokens can split a character across tokens, so decoding each token alone would print
    garbage; this decodes the running sequence and emits only the new, complete suffix.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self.decode = decode
        self.ids: list[int] = []
        self.emitted = 0

    def push(self, token: int) -> str:
        self.ids.append(int(token))
        text = self.decode(self.ids)
        end = len(text)
        while end > self.emitted and text[end - 1] == "\ufffd":
            end -= 1
        piece = text[self.emitted : end]
        self.emitted = end
        return piece

    def flush(self) -> str:
        text = self.decode(self.ids)
        piece = text[self.emitted :]
        self.emitted = len(text)
        return piece

    def pieces(self, tokens: Iterable[int]) -> Iterator[str]:
        for t in tokens:
            piece = self.push(t)
            if piece:
                yield piece
        tail = self.flush()
        if tail:
            yield tail
