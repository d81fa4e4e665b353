"""The decoding core: processor and stopping-criteria lists, no host reads on the hot path, guidance for any
token model, batched beam search, the music processors, and recurrent / convolutional state in the cache."""

from __future__ import annotations

import pytest
import torch

import genzoo as gz
from genzoo.data import music as mu
from genzoo.errors import GenzooError
from genzoo.generation import (
    AllowedTokens,
    ClassifierFreeGuidance,
    EosToken,
    GenerationConfig,
    LogitsProcessor,
    MaxLength,
    StateCache,
    StopStrings,
    StopWhen,
    SuppressTokens,
    beam_search,
    generate,
    processors_from_config,
    prompt_lookup,
    stream,
    top_k_filter,
    top_p_filter,
)
from genzoo.generation.music import EventGrammar, TimeBudget, elapsed_steps, event_processors


class Bigram:
    """A token model whose logits depend on the last token only (a random table), state = the last token."""

    context_length = None
    device = torch.device("cpu")

    def __init__(self, vocab: int = 7, seed: int = 0) -> None:
        self.vocab_size = vocab
        self.table = torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)) * 2

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=0)

    def forward_tokens(self, ids: torch.Tensor, cache: StateCache) -> torch.Tensor:
        cache.length += ids.shape[1]
        return self.table[ids]


class Spy(LogitsProcessor):
    """Records what it is shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, seq: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.seen.append((seq.clone(), scores.clone()))
        return scores


def test_config_builds_the_processors_in_order_and_they_match_the_filters() -> None:
    config = GenerationConfig(temperature=0.5, top_k=3, top_p=0.8, repetition_penalty=1.3)
    names = [type(p).__name__ for p in processors_from_config(config)]
    assert names == ["RepetitionPenalty", "Temperature", "TopK", "TopP"]
    assert [type(p).__name__ for p in processors_from_config(config.updated(do_sample=False))] == ["RepetitionPenalty"]
    logits = torch.randn(3, 10)
    seq = torch.tensor([[1, 2], [3, 3], [0, 9]])
    got = processors_from_config(config)(seq, logits.clone())
    penalised = logits.clone()
    for row, tokens in enumerate(seq.tolist()):
        for t in set(tokens):
            penalised[row, t] = penalised[row, t] / 1.3 if penalised[row, t] > 0 else penalised[row, t] * 1.3
    torch.testing.assert_close(got, top_p_filter(top_k_filter(penalised / 0.5, 3), 0.8))


def test_token_masks() -> None:
    scores = torch.zeros(2, 5)
    assert torch.isinf(SuppressTokens([1, 3])(torch.zeros(2, 1, dtype=torch.long), scores)[:, [1, 3]]).all()
    allowed = torch.tensor([True, False, True, False, False])
    out = AllowedTokens(allowed)(torch.zeros(2, 1, dtype=torch.long), scores)
    assert torch.isfinite(out).eq(allowed).all()
    only_next = AllowedTokens(lambda seq: torch.nn.functional.one_hot((seq[:, -1] + 1) % 5, 5).bool())
    out = generate(Bigram(5), torch.tensor([[0], [3]]), GenerationConfig(max_new_tokens=6, seed=0),
                   processors=[only_next])
    assert out.tolist() == [[0, 1, 2, 3, 4, 0, 1], [3, 4, 0, 1, 2, 3, 4]]  # a grammar decides every token


def test_stopping_criteria_end_rows_and_pad_them() -> None:
    model = Bigram()
    prompt = torch.tensor([[0], [1], [2]])
    config = GenerationConfig(max_new_tokens=30, do_sample=False, eos_token_id=None)
    free = generate(model, prompt, config)
    eos = int(free[0, 3])  # the token row 0 produces third: it ends row 0 there
    out = generate(model, prompt, config.updated(eos_token_id=eos, pad_token_id=6))
    row = out[0].tolist()
    assert row[: row.index(eos) + 1] == free[0, : row.index(eos) + 1].tolist()
    assert set(row[row.index(eos) + 1 :]) <= {6}
    # a custom predicate: stop each row once it holds two of token `eos`; max length counts the prompt
    twice = StopWhen(lambda seq: (seq == eos).sum(1) >= 2)
    out = generate(model, prompt, config, stopping=[twice, MaxLength(12)])
    assert out.shape[1] <= 12 and all((r == eos).sum() >= 2 or len(r) == 12 for r in out)
    assert EosToken([5, eos])(torch.tensor([[1, eos], [1, 2]]), torch.zeros(2, 7)).tolist() == [True, False]
    stop = StopStrings(["bc"], lambda ids: "".join("abcdefg"[i] for i in ids), prompt_length=1)
    assert stop(torch.tensor([[1, 1, 2], [1, 2, 1]]), torch.zeros(2, 7)).tolist() == [True, False]
    with pytest.raises(GenzooError, match="beam search ends hypotheses at eos"):
        generate(model, prompt, config.updated(num_beams=2), stopping=[twice])


def test_the_loop_reads_nothing_back_to_the_host_but_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Greedy and sampled steps without criteria read nothing back; with eos, one `bool` per step."""
    reads = {"n": 0}
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *a: object, _original: object = original, **k: object) -> object:
            reads["n"] += 1
            return _original(self, *a, **k)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, counted)
    model = gz.create("gpt", context_length=64, n_layer=1, n_head=2, d_model=16).eval()
    for config, per_step in ((GenerationConfig(do_sample=False), 0),
                             (GenerationConfig(temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.2), 0),
                             (GenerationConfig(eos_token_id=999), 1)):
        steps = stream(model, torch.tensor([[5, 6, 7]]), config.updated(max_new_tokens=20))
        next(steps)  # the prompt checks and the prefill
        before = reads["n"]
        n = sum(1 for _ in steps)
        assert reads["n"] - before == per_step * (n + 1), (config, reads["n"] - before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_stream_synchronisation_on_the_gpu_without_stopping() -> None:
    """CUDA's sync debug mode raises on any host synchronisation inside the loop (greedy and sampling)."""
    model = gz.create("gpt", context_length=64, n_layer=1, n_head=2, d_model=16).cuda().eval()
    for config in (GenerationConfig(do_sample=False), GenerationConfig(top_k=20, top_p=0.9, seed=0)):
        steps = stream(model, torch.tensor([[5, 6, 7]]), config.updated(max_new_tokens=20))
        first = next(steps)
        torch.cuda.set_sync_debug_mode("error")
        try:
            rest = list(steps)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert first.device.type == "cuda" and len(rest) == 19


def test_guidance_mixes_conditional_and_unconditional_rows() -> None:
    cond, uncond = torch.randn(2, 6).log_softmax(-1), torch.randn(2, 6).log_softmax(-1)
    cond[0, 2] = float("-inf")
    seq = torch.zeros(2, 1, dtype=torch.long)
    mixed = ClassifierFreeGuidance(3.0)(seq, torch.cat([cond, uncond]))
    expect = uncond + 3.0 * (cond - uncond)
    assert torch.isinf(mixed[0, 2]) and not torch.isnan(mixed).any()
    torch.testing.assert_close(mixed[1], expect[1])
    torch.testing.assert_close(ClassifierFreeGuidance(1.0)(seq, torch.cat([cond, uncond]))[1], cond[1])


class PromptModel(Bigram):
    """Logits depend on the first token of the sequence too (the "caption"), through the cache's start."""

    def forward_tokens(self, ids: torch.Tensor, cache: StateCache) -> torch.Tensor:
        if cache.length == 0:
            cache.state = ids[:, :1] if cache.start == 0 else torch.zeros_like(ids[:, :1])
        cache.length += ids.shape[1]
        return self.table[ids] + 3.0 * self.table[cache.state]


def test_guidance_is_the_unconditional_model_at_zero_and_the_model_at_one() -> None:
    model = PromptModel(vocab=6, seed=1)
    prompt, null = torch.tensor([[1, 4], [2, 4]]), torch.tensor([[0, 4], [0, 4]])
    config = GenerationConfig(max_new_tokens=10, seed=3)
    plain = generate(model, prompt, config)
    assert torch.equal(generate(model, prompt, config.updated(guidance_scale=1.0), unconditional=null), plain)
    spy = Spy()
    generate(model, prompt, config.updated(guidance_scale=0.0), unconditional=null, processors=[spy])
    first = spy.seen[0][1]
    torch.testing.assert_close(first, (model.table[[4, 4]] + 3.0 * model.table[[0, 0]]).log_softmax(-1))
    with pytest.raises(GenzooError, match="unconditional prompt"):
        generate(model, prompt, config.updated(guidance_scale=2.0))
    with pytest.raises(GenzooError, match="shape"):
        generate(model, prompt, config.updated(guidance_scale=2.0), unconditional=null[:, :1])


def test_guided_sliding_window_keeps_the_unconditional_prompt() -> None:
    """Past the context the window is re-encoded; the twin of a window still over the prompt uses the
    unconditional prompt there: guided decoding = decoding the mixed model by hand."""
    torch.manual_seed(0)
    gpt = gz.create("gpt", context_length=8, n_layer=1, n_head=2, d_model=16).eval()
    prompt, null = torch.tensor([[9, 10, 11]]), torch.tensor([[3, 3, 3]])
    config = GenerationConfig(max_new_tokens=12, do_sample=False, guidance_scale=2.0, window_stride=2)
    out = generate(gpt, prompt, config, unconditional=null)
    seq, cached = prompt, 3  # the core's cache holds the last `cached` tokens: +1 a step, 6 after a slide
    for _ in range(12):
        start = seq.shape[1] - cached
        window, twin = seq[:, start:], seq[:, start:].clone()
        twin[:, : max(0, 3 - start)] = null[:, start:3]
        c, u = (gpt.forward_tokens(w)[:, -1].log_softmax(-1) for w in (window, twin))
        seq = torch.cat([seq, (u + 2.0 * (c - u)).argmax(-1, keepdim=True)], 1)
        cached = 6 if cached + 1 > 8 else cached + 1
    assert torch.equal(out, seq)


def test_batched_beam_search_equals_one_row_at_a_time() -> None:
    torch.manual_seed(0)
    gpt = gz.create("gpt", context_length=32, n_layer=1, n_head=2, d_model=16).eval()
    prompts = torch.randint(5, 200, (3, 4))
    config = GenerationConfig(max_new_tokens=10, num_beams=3, eos_token_id=int(prompts[0, 0]), length_penalty=0.6)
    batched = beam_search(gpt, prompts, config)
    for i in range(3):
        row = beam_search(gpt, prompts[i : i + 1], config)[0]
        assert torch.equal(batched[i, : len(row)], row)


def test_time_budget_folds_crossing_shifts_into_eos() -> None:
    seq = torch.tensor([[mu.BOS, mu.SHIFT0 + 3, mu.ON0 + 60, mu.SHIFT0 + 7]])  # 4 + 8 = 12 steps after BOS
    assert elapsed_steps(seq, 1).tolist() == [12]
    scores = torch.randn(1, mu.VOCAB_SIZE)
    out = TimeBudget(16, start=1)(seq, scores)
    # shifts of 1..3 steps stay; 4..16 would reach 16 steps and now count as EOS
    assert torch.isfinite(out[0, mu.SHIFT0 : mu.SHIFT0 + 3]).all() and torch.isinf(out[0, mu.SHIFT0 + 3 :]).all()
    p, q = scores.softmax(-1)[0], out.softmax(-1)[0]
    torch.testing.assert_close(q[mu.EOS], p[mu.EOS] + p[mu.SHIFT0 + 3 :].sum())
    torch.testing.assert_close(q[: mu.EOS], p[: mu.EOS])


def test_event_grammar_samples_only_well_formed_events() -> None:
    torch.manual_seed(0)
    model = gz.create("music_lstm", embed=8, hidden=16, layers=1).eval()
    free = model.sample(4, steps=120)
    ruled = model.sample(4, steps=120, grammar=True, max_time=64)

    def malformed(row: list[int]) -> int:
        sounding, onset_now, bad = set(), False, 0
        for t in row[1:]:
            if t == mu.EOS:
                break
            if mu.ON0 <= t < mu.OFF0:
                bad += t - mu.ON0 in sounding
                sounding.add(t - mu.ON0)
                onset_now = True
            elif mu.OFF0 <= t < mu.SHIFT0:
                bad += t - mu.OFF0 not in sounding or onset_now
                sounding.discard(t - mu.OFF0)
            elif t >= mu.SHIFT0:
                onset_now = False
            else:
                bad += 1
        return bad

    assert sum(malformed(r) for r in free.tolist()) > 0  # an untrained model writes malformed events
    assert sum(malformed(r) for r in ruled.tolist()) == 0
    assert (elapsed_steps(ruled, 1) < 64).all()
    assert EventGrammar.allowed(torch.tensor([[mu.BOS]]))[0, mu.OFF0 : mu.SHIFT0].sum() == 0
    assert [type(p).__name__ for p in event_processors(0.9, 5, 0.9, True, 32, 1)] == [
        "Temperature", "SuppressTokens", "EventGrammar", "TopK", "TopP", "TimeBudget"]


@pytest.mark.parametrize("name", ["music_lstm", "wavenet", "char_rnn"])
def test_recurrent_and_convolutional_state_travels_in_the_cache(name: str) -> None:
    torch.manual_seed(0)
    small = {"music_lstm": dict(embed=8, hidden=16), "wavenet": dict(channels=8, skip_channels=8, layers_per_stack=3),
             "char_rnn": dict(hidden=16, d_embed=8)}[name]
    model = gz.create(name, **small).eval()
    ids = torch.randint(3, model.vocab_size, (2, 20))
    cache = model.new_cache(2)
    pieces = torch.cat([model.forward_tokens(ids[:, :7], cache), model.forward_tokens(ids[:, 7:8], cache),
                        model.forward_tokens(ids[:, 8:], cache)], 1)
    torch.testing.assert_close(pieces, model.forward_tokens(ids), atol=1e-5, rtol=1e-5)
    cache = model.new_cache(2)
    model.forward_tokens(ids[:, :7], cache)
    cache.reorder(torch.tensor([1, 1, 0]))  # beams: rows picked and duplicated with their state
    rest = model.forward_tokens(ids[[1, 1, 0], 7:], cache)
    torch.testing.assert_close(rest, model.forward_tokens(ids[[1, 1, 0]])[:, 7:], atol=1e-5, rtol=1e-5)


def test_vqvae_prior_decodes_through_the_core() -> None:
    from genzoo.models.latent.vqvae import TokenPrior

    torch.manual_seed(0)
    vq = gz.create("vqvae", image_shape=(1, 8, 8), hidden=8, codebook_size=16, code_dim=4, downsamples=1).eval()
    with torch.no_grad():
        for p in vq.prior_parameters():
            p.normal_(0, 2.0)
    idx = torch.randint(0, 16, (2, 4, 4))
    prior = TokenPrior(vq)
    seq = torch.cat([torch.zeros(2, 1, dtype=torch.long), idx.flatten(1)], 1)[:, :-1]
    torch.testing.assert_close(prior.forward_tokens(seq, prior.new_cache(2)), vq.prior_logits(idx).flatten(1, 2))
    with pytest.raises(GenzooError, match="covers 16 tokens"):
        prior.forward_tokens(torch.zeros(1, 17, dtype=torch.long), prior.new_cache(1))


def test_music_gpt_keeps_a_prime_longer_than_its_context_and_times_only_new_events() -> None:
    torch.manual_seed(0)
    model = gz.create("music_gpt", context_length=16, n_layer=1, n_head=2, d_model=16).eval()
    prime = [mu.BOS] + [mu.ON0 + 60, mu.SHIFT0 + 3, mu.OFF0 + 60] * 10  # 31 events, 40 steps long
    with pytest.warns(UserWarning, match="longer than the context"):
        out = model.sample(3, steps=40, prime=prime, max_time=8)
    assert out[:, : len(prime)].tolist() == [prime] * 3
    new = out[:, len(prime) :]
    assert (elapsed_steps(new) < 8).all()
    assert all(mu.EOS in row or len(row) == 40 for row in new.tolist())


def test_prompt_lookup_drafts_what_followed_the_latest_match_of_the_tail() -> None:
    assert prompt_lookup.draft([1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 3], 2) == [8, 1]  # latest match of (1, 2, 3)
    assert prompt_lookup.draft([4, 5, 6, 7, 5], 3) == [6, 7, 5]  # only a 1-gram matches
    assert prompt_lookup.draft([1, 2, 3], 4) == []
    assert prompt_lookup.draft([5, 7, 8, 7, 8], 5) == [7, 8, 7, 8, 7]  # a cycle is continued past the end


@pytest.mark.parametrize(
    "extra",
    [{}, {"repetition_penalty": 1.3}, {"eos_token_id": 3}, {"stop_strings": ("e",)}],
    ids=["plain", "penalty", "eos", "stop"],
)
def test_prompt_lookup_gives_greedys_tokens_in_fewer_passes(extra: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a sliding context (24 positions, 60 new tokens) and with every per-step rule, the drafted run
    emits exactly the plain greedy tokens; on repetitive text it needs fewer forward passes."""
    model = gz.create("gpt", context_length=24, n_layer=1, n_head=2, d_model=16, seed=0).eval()
    passes = {"n": 0}
    forward = model.forward_tokens

    def counted(ids: torch.Tensor, cache: object) -> torch.Tensor:
        passes["n"] += 1
        return forward(ids, cache)

    monkeypatch.setattr(model, "forward_tokens", counted)
    prompt = torch.tensor([list(b"abcdabcdab")])
    decode = model.tokenizer.decode if "stop_strings" in extra else None
    runs = {}
    for k in (0, 4):
        passes["n"] = 0
        config = GenerationConfig(max_new_tokens=60, do_sample=False, prompt_lookup_num_tokens=k, **extra)
        runs[k] = (generate(model, prompt, config, decode=decode), passes["n"])
    assert torch.equal(runs[0][0], runs[4][0])
    if runs[0][0].shape[1] > prompt.shape[1] + 20:  # long enough to repeat itself
        assert runs[4][1] < runs[0][1]


def test_prompt_lookup_is_for_greedy_decoding() -> None:
    with pytest.raises(GenzooError, match="greedy"):
        GenerationConfig(prompt_lookup_num_tokens=3)
    with pytest.raises(GenzooError, match=">= 0"):
        GenerationConfig(do_sample=False, prompt_lookup_num_tokens=-1)
