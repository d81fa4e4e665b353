"""Greedy, sampling and beam-search decoding over any token model (see the package docstring)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.generation.cache import Cache
from genzoo.generation.config import GenerationConfig
from genzoo.generation.processors import apply_processors, repetition_penalty

Decode = Callable[[list[int]], str]


def _check_prompt(model: Any, prompt: Tensor) -> Tensor:
    prompt = torch.as_tensor(prompt, dtype=torch.long)
    if prompt.ndim == 1:
        prompt = prompt.unsqueeze(0)
    if prompt.ndim != 2 or prompt.shape[1] == 0:
        raise GenzooError("the prompt is empty: give at least one token (or some text)")
    vocab = getattr(model, "vocab_size", None)
    if vocab is not None and (int(prompt.min()) < 0 or int(prompt.max()) >= vocab):
        raise GenzooError(f"prompt holds token ids outside the vocabulary (0..{vocab - 1})")
    ctx = getattr(model, "context_length", None)
    if ctx is not None and prompt.shape[1] > ctx:
        warnings.warn(
            f"prompt of {prompt.shape[1]} tokens is longer than the context ({ctx}); "
            f"only its last {ctx} tokens are used",
            stacklevel=3,
        )
        prompt = prompt[:, -ctx:]
    return prompt


def _forward(
    model: Any,
    cache: Cache,
    seq: Tensor,
    new: Tensor,
    config: GenerationConfig,
    new_cache: Callable[[int], Cache],
) -> tuple[Tensor, Cache]:
    """Logits for the last position after feeding `new` (the tail of `seq`), sliding the window if needed.

    Past the context, the last (context - stride) tokens are re-encoded into a fresh cache; the next
    `stride` steps then reuse it, so the cost is one prefill per `stride` tokens rather than per token.
    """
    ctx = getattr(model, "context_length", None)
    if ctx is not None and cache.length + new.shape[1] > ctx:
        stride = config.window_stride or max(1, ctx // 4)
        keep = max(1, ctx - stride)
        cache = new_cache(seq.shape[0])
        new = seq[:, -keep:]
    logits = model.forward_tokens(new.to(model.device), cache)
    return logits[:, -1].float(), cache


def _stopper(config: GenerationConfig, decode: Decode | None) -> Callable[[list[int]], bool]:
    """A check on a sequence's generated ids: does its text contain a stop string?"""
    if not config.stop_strings:
        return lambda ids: False
    if decode is None:
        raise GenzooError("stop_strings need a tokenizer to decode with")
    return lambda ids: any(s in decode(ids) for s in config.stop_strings)


@torch.no_grad()
def stream(
    model: Any,
    prompt: Tensor,
    config: GenerationConfig | None = None,
    *,
    decode: Decode | None = None,
    new_cache: Callable[[int], Cache] | None = None,
) -> Iterator[Tensor]:
    """Yield each step's new tokens, shape (B,), as they are produced (greedy or sampling).

    Finished rows (eos or a stop string) yield `config.eos_token_id` (or 0) from then on; the loop ends
    when every row has finished or `max_new_tokens` is reached.
    """
    config = config or GenerationConfig()
    if config.num_beams > 1:
        raise GenzooError("beam search cannot stream; use generate() or num_beams=1")
    prompt = _check_prompt(model, prompt)
    new_cache = new_cache or model.new_cache
    gen = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
    stop = _stopper(config, decode)
    b = prompt.shape[0]
    cache = new_cache(b)
    seq = prompt
    done = torch.zeros(b, dtype=torch.bool)
    filler = config.eos_token_id if config.eos_token_id is not None else 0
    generated: list[list[int]] = [[] for _ in range(b)]
    logits, cache = _forward(model, cache, seq, seq, config, new_cache)
    for step in range(config.max_new_tokens):
        scores = apply_processors(logits.cpu(), seq, config)
        if config.do_sample:
            token = torch.multinomial(scores.softmax(-1), 1, generator=gen).squeeze(1)
        else:
            token = scores.argmax(-1)
        token = torch.where(done, torch.full_like(token, filler), token)
        yield token
        for i in range(b):
            if done[i]:
                continue
            generated[i].append(int(token[i]))
            if (config.eos_token_id is not None and int(token[i]) == config.eos_token_id) or stop(
                generated[i]
            ):
                done[i] = True
        seq = torch.cat([seq, token[:, None]], 1)
        if bool(done.all()) or step == config.max_new_tokens - 1:
            return
        logits, cache = _forward(model, cache, seq, token[:, None], config, new_cache)


@torch.no_grad()
def generate(
    model: Any,
    prompt: Tensor,
    config: GenerationConfig | None = None,
    *,
    decode: Decode | None = None,
    new_cache: Callable[[int], Cache] | None = None,
    on_token: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """Prompt plus generated tokens, (B, T + new). `on_token` is called with each step's (B,) tokens."""
    config = config or GenerationConfig()
    if config.num_beams > 1:
        return beam_search(model, prompt, config, new_cache=new_cache)
    prompt = _check_prompt(model, prompt)
    steps = []
    for token in stream(model, prompt, config, decode=decode, new_cache=new_cache):
        if on_token is not None:
            on_token(token)
        steps.append(token)
    return torch.cat([prompt, torch.stack(steps, 1)], 1) if steps else prompt


@torch.no_grad()
def beam_search(
    model: Any, prompt: Tensor, config: GenerationConfig, *, new_cache: Callable[[int], Cache] | None = None
) -> Tensor:
    """Beam search per prompt row; returns each row's best hypothesis (padded with eos/0 to one length).

    Scores are summed log-probabilities (after the repetition penalty) divided by
    generated_length ** length_penalty. A hypothesis ends at eos; the search stops when `num_beams`
    hypotheses have ended and no live beam can still beat the worst of them, or at `max_new_tokens`.
    """
    prompt = _check_prompt(model, prompt)
    rows = [
        _beam_one(model, prompt[i : i + 1], config, new_cache or model.new_cache) for i in range(len(prompt))
    ]
    width = max(len(r) for r in rows)
    filler = config.eos_token_id if config.eos_token_id is not None else 0
    out = torch.full((len(rows), prompt.shape[1] + width), filler, dtype=torch.long)
    out[:, : prompt.shape[1]] = prompt
    for i, r in enumerate(rows):
        out[i, prompt.shape[1] : prompt.shape[1] + len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _beam_one(
    model: Any, prompt: Tensor, config: GenerationConfig, new_cache: Callable[[int], Cache]
) -> list[int]:
    k, eos, lp = config.num_beams, config.eos_token_id, config.length_penalty
    cache = new_cache(1)
    seq = prompt
    logits, cache = _forward(model, cache, seq, seq, config, new_cache)
    scores = torch.zeros(1)
    finished: list[tuple[float, list[int]]] = []
    n_prompt = prompt.shape[1]
    for step in range(1, config.max_new_tokens + 1):
        logp = repetition_penalty(logits.cpu(), seq, config.repetition_penalty).log_softmax(-1)
        cand = (scores[:, None] + logp).view(-1)
        top = torch.topk(cand, min(2 * k, cand.numel()))
        vocab = logp.shape[-1]
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            row, token = divmod(flat, vocab)
            if eos is not None and token == eos:
                hyp = seq[row, n_prompt:].tolist() + [token]
                finished.append((score / step**lp, hyp))
                continue
            keep_rows.append(row)
            keep_tokens.append(token)
            keep_scores.append(score)
            if len(keep_rows) == k:
                break
        finished = sorted(finished, key=lambda f: -f[0])[:k]
        if not keep_rows:
            break
        index = torch.tensor(keep_rows)
        scores = torch.tensor(keep_scores)
        new = torch.tensor(keep_tokens)[:, None]
        seq = torch.cat([seq.index_select(0, index), new], 1)
        # done when k hypotheses ended and the best live beam (its score can only fall) cannot beat them
        if len(finished) == k and float(scores.max()) / step**lp <= finished[-1][0] and lp >= 0:
            break
        if step == config.max_new_tokens:
            break
        cache.reorder(index)
        logits, cache = _forward(model, cache, seq, new, config, new_cache)
    for s, row in zip(scores.tolist(), seq[:, n_prompt:].tolist(), strict=True):
        finished.append((s / max(len(row), 1) ** lp, row))
    return max(finished, key=lambda f: f[0])[1]
