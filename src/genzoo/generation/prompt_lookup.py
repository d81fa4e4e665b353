"""Drafts for prompt lookup decoding (Saxena 2023): guess the next tokens by copying what followed the
latest earlier occurrence of the sequence's last n tokens. Text that quotes its prompt or repeats itself
(code, documentation, extraction, summaries) is guessed right often; the decoding core checks each draft
in one forward pass, so a wrong guess costs a few extra rows of compute and never changes the output.
"""

from __future__ import annotations

#: longest and shortest tail searched for, longest first (a longer match is a more reliable guess)
MAX_NGRAM = 3
MIN_NGRAM = 1


def draft(tokens: list[int], num_tokens: int) -> list[int]:
    """`num_tokens` tokens that followed the latest earlier occurrence of `tokens`' tail ([] if none).

    The copy may run on into the draft itself, as LZ77's overlapping copies do: a tail that repeats every
    p tokens (a run of spaces, a rule of '=') matches p tokens back, and the draft continues the cycle for
    all `num_tokens` instead of stopping after p.
    """
    n_tokens = len(tokens)
    for n in range(min(MAX_NGRAM, n_tokens - 1), MIN_NGRAM - 1, -1):
        tail = tokens[-n:]
        for start in range(n_tokens - n - 1, -1, -1):
            if tokens[start : start + n] == tail:
                out: list[int] = []
                for j in range(start + n, start + n + num_tokens):
                    out.append(tokens[j] if j < n_tokens else out[j - n_tokens])
                return out
    return []
