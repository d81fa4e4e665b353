"""The token loop, written once: greedy, sampling and beam search over any token model.

Each step: the model's next-token logits -> the logits processors -> a token (argmax, or a draw) -> the
stopping criteria. Tokens, scores and the random generator live on the model's device; the loop reads
nothing back to the host except the one "is every row done?" that stopping needs (and nothing at all
when no criterion is in play). Beam search keeps its hypothesis bookkeeping on the host, one read per step.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.generation.cache import Cache, KVCache
from genzoo.generation.config import GenerationConfig
from genzoo.generation.guidance import Guided
from genzoo.generation.processors import LogitsProcessor, processors_from_config
from genzoo.generation.prompt_lookup import draft
from genzoo.generation.stopping import EosToken, StoppingCriteria, StoppingCriteriaList, StopStrings

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
            stacklevel=4,
        )
        prompt = prompt[:, -ctx:]
    return prompt


class _Decoder:
    """What one decoding run shares between its steps: the model view, its cache, the processors, the
    sliding window. `logits(seq, new)` feeds `new` (the tail of `seq`) and returns the last position's
    float logits, re-encoding a window into a fresh cache when the context would overflow.
    """

    def __init__(
        self,
        model: Any,
        prompt: Tensor,
        config: GenerationConfig,
        new_cache: Callable[[int], Cache] | None,
        unconditional: Tensor | None,
        processors: Sequence[LogitsProcessor],
    ) -> None:
        guided = config.guidance_scale != 1.0
        if guided:
            if unconditional is None:
                raise GenzooError("guidance_scale != 1 needs an unconditional prompt to guide against")
            model = Guided(model, _check_prompt(model, unconditional)[:, -prompt.shape[1] :])
            model.check(prompt)
            new_cache = model.new_cache
        self.model = model
        self.config = config
        self.make_cache = new_cache or model.new_cache
        self.device = torch.device(model.device)
        self.processors = processors_from_config(config, processors, guided=guided)
        self.cache: Any = None

    def start(self, seq: Tensor) -> Tensor:
        self.cache = self.make_cache(seq.shape[0])
        return self._forward(seq)

    def logits(self, seq: Tensor, new: Tensor) -> Tensor:
        ctx = getattr(self.model, "context_length", None)
        if ctx is not None and self.cache.length + new.shape[1] > ctx:
            # past the context: keep the last (context - stride) tokens, re-encoded once per `stride` steps
            stride = self.config.window_stride or max(1, ctx // 4)
            keep = max(1, ctx - stride)
            self.cache = self.make_cache(seq.shape[0])
            self.cache.start = seq.shape[1] - keep
            new = seq[:, -keep:]
        return self._forward(new)

    def _forward(self, ids: Tensor) -> Tensor:
        return self.model.forward_tokens(ids, self.cache)[:, -1].float()

    def room(self) -> int:
        """Tokens the cache can still take before the context slides (a draft must fit in them)."""
        ctx = getattr(self.model, "context_length", None)
        return self.cache.max_length - self.cache.length if ctx is None else ctx - self.cache.length

    def forward_all(self, ids: Tensor) -> Tensor:
        """Feed `ids` and return every position's float logits (B, T, V): a draft checked in one pass."""
        return self.model.forward_tokens(ids, self.cache).float()

    def scores(self, seq: Tensor, logits: Tensor) -> Tensor:
        return self.processors(seq, logits)


def _stopping(
    config: GenerationConfig, decode: Decode | None, prompt_length: int, extra: Sequence[StoppingCriteria]
) -> StoppingCriteriaList:
    out = StoppingCriteriaList()
    if config.eos_token_id is not None:
        out.append(EosToken(config.eos_token_id))
    if config.stop_strings:
        if decode is None:
            raise GenzooError("stop_strings need a tokenizer to decode with")
        out.append(StopStrings(config.stop_strings, decode, prompt_length))
    out.extend(extra)
    return out


def _filler(config: GenerationConfig) -> int:
    if config.pad_token_id is not None:
        return config.pad_token_id
    return config.eos_token_id if config.eos_token_id is not None else 0


@torch.no_grad()
def stream(
    model: Any,
    prompt: Tensor,
    config: GenerationConfig | None = None,
    *,
    decode: Decode | None = None,
    new_cache: Callable[[int], Cache] | None = None,
    processors: Sequence[LogitsProcessor] = (),
    stopping: Sequence[StoppingCriteria] = (),
    unconditional: Tensor | None = None,
) -> Iterator[Tensor]:
    """Yield each step's new tokens, shape (B,) on the model's device, as they are produced.

    processors run after the config's own (guidance, penalty, temperature, top-k, top-p, min-p);
    stopping criteria are added to the config's (eos, stop strings). A finished row yields the pad token
    (`config.pad_token_id`, else eos, else 0) from then on; the loop ends when every row has finished or
    `max_new_tokens` is reached. unconditional: the prompt to guide against when `guidance_scale != 1`.
    """
    config = config or GenerationConfig()
    if config.num_beams > 1:
        raise GenzooError("beam search cannot stream; use generate() or num_beams=1")
    prompt = _check_prompt(model, prompt)
    if config.max_new_tokens == 0:
        return
    dec = _Decoder(model, prompt, config, new_cache, unconditional, processors)
    b, p = prompt.shape
    stop = _stopping(config, decode, p, stopping)
    gen = None
    if config.seed is not None:
        gen = torch.Generator(device=dec.device).manual_seed(config.seed)
    out = torch.empty(b, p + config.max_new_tokens, dtype=torch.long, device=dec.device)
    out[:, :p] = prompt.to(dec.device)
    done = torch.zeros(b, dtype=torch.bool, device=dec.device)
    filler = torch.tensor(_filler(config), device=dec.device)
    logits = dec.start(out[:, :p])
    lookup = config.prompt_lookup_num_tokens if b == 1 and isinstance(dec.cache, KVCache) else 0
    history = out[0, :p].tolist() if lookup else []
    step = 0
    while step < config.max_new_tokens:
        t = p + step
        scores = dec.scores(out[:, :t], logits)
        if config.do_sample:
            token = torch.multinomial(scores.softmax(-1), 1, generator=gen).squeeze(1)
        else:
            token = scores.argmax(-1)
        token = torch.where(done, filler, token)
        out[:, t] = token
        yield token
        step += 1
        if stop:
            done |= stop(out[:, : t + 1], scores)
            if bool(done.all()):
                return
        if step == config.max_new_tokens:
            return
        guess = []
        if lookup:
            history.append(int(token))
            room = min(config.max_new_tokens - step - 1, dec.room() - 1)
            guess = draft(history, min(lookup, room)) if room > 0 else []
        if not guess:
            logits = dec.logits(out[:, : t + 1], out[:, t : t + 1])
            continue
        # check the draft in one pass: row i of `checked` is the next-token logits after guess[:i]
        checked = dec.forward_all(torch.tensor([[int(token), *guess]], device=dec.device))
        accepted = 0
        for i, guessed in enumerate(guess):
            scores = dec.scores(out[:, : t + 1 + i], checked[:, i])
            if int(scores.argmax(-1)) != guessed:
                break
            out[:, t + 1 + i] = guessed
            history.append(guessed)
            accepted += 1
            yield out[:, t + 1 + i]
            step += 1
            if stop:
                done |= stop(out[:, : t + 2 + i], scores)
                if bool(done.all()):
                    return
        dec.cache.truncate(dec.cache.length - len(guess) + accepted)
        logits = checked[:, accepted]


@torch.no_grad()
def generate(
    model: Any,
    prompt: Tensor,
    config: GenerationConfig | None = None,
    *,
    decode: Decode | None = None,
    new_cache: Callable[[int], Cache] | None = None,
    on_token: Callable[[Tensor], None] | None = None,
    processors: Sequence[LogitsProcessor] = (),
    stopping: Sequence[StoppingCriteria] = (),
    unconditional: Tensor | None = None,
) -> Tensor:
    """Prompt plus generated tokens, (B, T + new) on the model's device; `on_token` sees each step's (B,).

    Beam search when `config.num_beams > 1` (it takes `processors` but no extra stopping criteria).
    """
    config = config or GenerationConfig()
    if config.num_beams > 1:
        if stopping:
            raise GenzooError("beam search ends hypotheses at eos only; drop the extra stopping criteria")
        return beam_search(model, prompt, config, new_cache=new_cache, processors=processors)
    prompt = _check_prompt(model, prompt)
    steps = []
    for token in stream(
        model,
        prompt,
        config,
        decode=decode,
        new_cache=new_cache,
        processors=processors,
        stopping=stopping,
        unconditional=unconditional,
    ):
        if on_token is not None:
            on_token(token)
        steps.append(token)
    prompt = prompt.to(model.device)
    return torch.cat([prompt, torch.stack(steps, 1)], 1) if steps else prompt


@torch.no_grad()
def beam_search(
    model: Any,
    prompt: Tensor,
    config: GenerationConfig,
    *,
    new_cache: Callable[[int], Cache] | None = None,
    processors: Sequence[LogitsProcessor] = (),
) -> Tensor:
    """Beam search for every prompt row at once; each row's best hypothesis (padded to one length).

    Scores are summed log-probabilities (after the penalty and `processors`) divided by
    generated_length ** length_penalty. A hypothesis ends at eos; a row's search stops when `num_beams`
    hypotheses have ended and none of its live beams can still beat the worst of them, or at
    `max_new_tokens`. All rows' beams share each forward pass.
    """
    if config.guidance_scale != 1.0:
        raise GenzooError("guidance is for sampling; beam search takes guidance_scale=1")
    prompt = _check_prompt(model, prompt)
    dec = _Decoder(model, prompt, config, new_cache, None, processors)
    k, eos, lp, filler = config.num_beams, config.eos_token_id, config.length_penalty, _filler(config)
    n, p = prompt.shape
    seq = prompt.to(dec.device)
    logits = dec.start(seq)
    width = 1  # live beams per row: one (the prompt) before the first step
    scores = torch.zeros(n, 1, device=dec.device)
    hyps: list[list[int]] = [[] for _ in range(n)]  # generated tokens of every beam row
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    best: list[list[int] | None] = [None] * n
    for step in range(1, config.max_new_tokens + 1):
        logp = dec.scores(seq, logits).log_softmax(-1)
        vocab = logp.shape[-1]
        cand = (scores[:, :, None] + logp.view(n, width, vocab)).view(n, -1)
        top = torch.topk(cand, min(2 * k, cand.shape[1]), dim=-1)
        rows, tokens, kept_scores, next_hyps = [], [], [], []
        for i, (values, flats) in enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)):
            kept: list[tuple[int, int, float]] = []  # (beam row, token, score), best first
            if best[i] is None:
                for score, flat in zip(values, flats, strict=True):
                    if score == float("-inf"):
                        break
                    row, token = divmod(flat, vocab)
                    if eos is not None and token == eos:
                        finished[i].append((score / step**lp, hyps[i * width + row] + [token]))
                        continue
                    kept.append((i * width + row, token, score))
                    if len(kept) == k:
                        break
                finished[i] = sorted(finished[i], key=lambda f: -f[0])[:k]
                if not kept:  # nothing left to extend: the row ends with the beams it had
                    live = list(zip(scores[i].tolist(), hyps[i * width : (i + 1) * width], strict=True))
                    best[i] = _best(finished[i], live, lp)
            grown = [(s, hyps[r] + [t]) for r, t, s in kept]
            # done when k hypotheses ended and the best live beam (its score can only fall) cannot beat them
            if best[i] is None and (
                step == config.max_new_tokens
                or (len(finished[i]) == k and lp >= 0 and kept[0][2] / step**lp <= finished[i][-1][0])
            ):
                best[i] = _best(finished[i], grown, lp)
            # a finished row, or one short of k live beams, is padded with dead beams (score -inf)
            pad = k - len(kept)
            rows += [r for r, _, _ in kept] + [i * width] * pad
            tokens += [t for _, t, _ in kept] + [filler] * pad
            kept_scores += [s for _, _, s in kept] + [float("-inf")] * pad
            next_hyps += [h for _, h in grown] + [[] for _ in range(pad)]
        if all(b is not None for b in best):
            break
        hyps, width = next_hyps, k
        index = torch.tensor(rows, device=dec.device)
        new = torch.tensor(tokens, device=dec.device)[:, None]
        scores = torch.tensor(kept_scores, device=dec.device).view(n, k)
        seq = torch.cat([seq.index_select(0, index), new], 1)
        dec.cache.reorder(index)
        logits = dec.logits(seq, new)
    out = torch.full((n, p + max(len(b or []) for b in best)), filler, dtype=torch.long)
    out[:, :p] = prompt
    for i, b in enumerate(best):
        out[i, p : p + len(b or [])] = torch.tensor(b or [], dtype=torch.long)
    return out.to(dec.device)


def _best(finished: list[tuple[float, list[int]]], live: list[tuple[float, list[int]]], lp: float) -> list[int]:
    """The best of the ended hypotheses and the live beams (scored by their length as they stand)."""
    pool = finished + [(s / max(len(h), 1) ** lp, h) for s, h in live if s != float("-inf")]
    return max(pool, key=lambda f: f[0])[1] if pool else []
