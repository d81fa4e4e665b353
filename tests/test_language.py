"""Language family: tokenizers, text data, the generation core, gpt / char_rnn / seq2seq / bert, CLI verbs."""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.cli import main
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_json
from genzoo.errors import GenzooError
from genzoo.generation import GenerationConfig, generate, min_p_filter, top_k_filter, top_p_filter
from genzoo.generation.cache import StateCache

TEXT = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! " * 3
SRC = Path(__file__).resolve().parents[1] / "src"


def tiny_gpt(text: str = TEXT, **overrides: object) -> gz.models.transformers.GPT:  # type: ignore[name-defined]
    tok = CharTokenizer(text)
    options = dict(
        vocab_size=tok.vocab_size, tokenizer=tok.to_json(), context_length=32, n_layer=2, d_model=32, n_head=2
    )
    return gz.create("gpt", **{**options, **overrides})


def random_text(rng: random.Random, n: int) -> str:
    pool = "abc xyz\n\t\x00é漢字🎉\u200d\u0301Ωß" + "".join(
        chr(rng.randrange(0x20, 0x2FFF)) for _ in range(20)
    )
    return "".join(rng.choice(pool) for _ in range(n))


# -- tokenizers and data ---------------------------------------------------------------------------------
def test_tokenizers_round_trip_any_utf8() -> None:
    rng = random.Random(0)
    char = CharTokenizer("abc def")
    bpe = BPETokenizer.train(TEXT * 5 + "élan 漢字", vocab_size=300)
    for tok in (char, bpe, tokenizer_from_json(char.to_json()), tokenizer_from_json(bpe.to_json())):
        for _ in range(50):
            s = random_text(rng, rng.randrange(0, 40))
            assert tok.decode(tok.encode(s)) == s
        assert max(tok.encode(TEXT)) < tok.vocab_size
    assert len(bpe.encode(TEXT)) < len(TEXT) / 2  # merges were learned
    with pytest.raises(GenzooError, match="outside the vocabulary"):
        char.decode([char.vocab_size + 3])
    with pytest.raises(GenzooError, match="corrupt"):
        tokenizer_from_json('{"kind": "bpe", "tokenizer": "not json"}')


def test_pydoc_stream_splits_and_batches() -> None:
    train = gz.data.load("pydoc", block_size=32)
    val = gz.data.load("pydoc", split="val", block_size=32)
    assert train.info.kind == "text" and train.info.extra["vocab_size"] == train.tokenizer.vocab_size
    assert 0.03 < val.info.extra["chars"] / train.info.extra["chars"] < 0.08
    assert isinstance(train.tokens, __import__("numpy").memmap)
    assert train[0].shape == (33,) and train.batch(4).shape == (4, 33)
    assert val.tokenizer.to_json() == train.tokenizer.to_json()  # one tokenizer, trained on train only
    assert torch.equal(val[3], val[3])  # val windows are fixed


def test_text_file_errors_and_download_loaders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genzoo.data import text

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(GenzooError, match="not UTF-8"):
        gz.data.load("textfile", path=str(bad))
    # tiny-shakespeare from a small local "mirror" with its checksum
    small = tmp_path / "input.txt"
    small.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200)
    digest = hashlib.sha256(small.read_bytes()).hexdigest()
    monkeypatch.setattr(text, "SHAKESPEARE", ([small.as_uri()], f"sha256:{digest}"))
    ds = gz.data.load("tiny_shakespeare", block_size=16)
    assert ds.tokenizer.decode(ds.tokens[:5]) == "First"
    # WikiText-2: a small zip with the real archive's layout
    archive = tmp_path / "wt.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for split in ("train", "valid", "test"):
            z.writestr(f"wikitext-2/wiki.{split}.tokens", f" = {split} = \n The tower is tall . \n" * 30)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(text, "WIKITEXT2", ([archive.as_uri()], f"sha256:{digest}"))
    assert "valid" in gz.data.load("wikitext2", split="val", block_size=8).tokenizer.decode(
        gz.data.load("wikitext2", split="val", block_size=8).tokens[:12]
    )
    # a file that fails its checksum, and no network
    monkeypatch.setattr(text, "SHAKESPEARE", ([small.as_uri()], "sha256:" + "0" * 64))
    (tmp_path / "cache" / "tiny_shakespeare" / "input.txt").unlink()
    with pytest.raises(GenzooError, match="checksum mismatch"):
        gz.data.load("tiny_shakespeare")
    monkeypatch.setattr(text, "SHAKESPEARE", (["http://127.0.0.1:9/input.txt"], "sha256:" + "0" * 64))
    with pytest.raises(GenzooError, match="offline"):
        gz.data.load("tiny_shakespeare")


def test_task_datasets_are_real_and_disjoint() -> None:
    train = gz.data.load("translation_en_fr")
    test = gz.data.load("translation_en_fr", split="test")
    assert len(train) > 1000 and len(test) > 20
    assert ("Germany", "Allemagne") in train.pairs + test.pairs
    assert not set(train.sources) & set(test.sources)
    batch = train.collate([train[0], train[1]])
    assert batch["tgt"][:, 0].eq(1).all()  # <bos>


# -- generation core ------------------------------------------------------------------------------------
def test_filters_keep_exactly_the_right_tokens() -> None:
    probs = torch.tensor([[0.05, 0.5, 0.1, 0.2, 0.15]])
    logits = probs.log()

    def kept(x: torch.Tensor) -> set[int]:
        return set(torch.nonzero(torch.isfinite(x[0])).flatten().tolist())

    assert kept(top_k_filter(logits, 2)) == {1, 3}
    assert kept(top_k_filter(logits, 4)) == {1, 3, 4, 2}
    assert kept(top_p_filter(logits, 0.4)) == {1}
    assert kept(top_p_filter(logits, 0.65)) == {1, 3}
    assert kept(top_p_filter(logits, 0.75)) == {1, 3, 4}
    assert kept(top_p_filter(logits, 1.0)) == {0, 1, 2, 3, 4}
    assert kept(min_p_filter(logits, 0.35)) == {1, 3}
    assert kept(min_p_filter(logits, 0.25)) == {1, 3, 4}


class ToyModel:
    """A 4-token model whose logits depend on the last two tokens: small enough to enumerate all sequences."""

    context_length = None
    vocab_size = 4
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.table = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(3)) * 2

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=0)

    def forward_tokens(self, ids: torch.Tensor, cache: StateCache) -> torch.Tensor:
        seq = ids if cache.state is None else torch.cat([cache.state, ids], 1)  # type: ignore[list-item]
        cache.state, cache.length = seq, seq.shape[1]
        prev = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, :-1]], 1)
        return self.table[prev, seq][:, -ids.shape[1] :]


def test_beam_search_finds_the_best_sequence() -> None:
    model, prompt, steps = ToyModel(), torch.tensor([[1, 2]]), 4

    def score(seq: tuple[int, ...]) -> float:
        full = torch.tensor([[1, 2, *seq]])
        logp = model.table[
            torch.cat([torch.zeros(1, 1, dtype=torch.long), full[:, :-1]], 1), full
        ].log_softmax(-1)
        return float(sum(logp[0, 1 + i, t] for i, t in enumerate(seq)))

    best = max(itertools.product(range(4), repeat=steps), key=score)
    out = generate(model, prompt, GenerationConfig(max_new_tokens=steps, num_beams=4 ** (steps - 1)))
    assert tuple(out[0, 2:].tolist()) == best
    greedy = generate(model, prompt, GenerationConfig(max_new_tokens=steps, do_sample=False))
    assert score(tuple(greedy[0, 2:].tolist())) <= score(best)


def test_kv_cache_matches_full_recompute() -> None:
    torch.manual_seed(0)
    for model in (tiny_gpt(), tiny_gpt(positions="learned"), gz.create("char_rnn", hidden=32, n_layer=2)):
        model.eval()
        prompt = torch.randint(5, 200, (2, 7))
        out = generate(model, prompt, GenerationConfig(max_new_tokens=20, do_sample=False))
        seq = prompt
        for _ in range(20):
            seq = torch.cat([seq, model.forward_tokens(seq)[:, -1].argmax(-1, keepdim=True)], 1)
        assert torch.equal(out, seq)
        cache = model.new_cache(2)
        step = torch.cat(
            [model.forward_tokens(seq[:, :10], cache), model.forward_tokens(seq[:, 10:], cache)], 1
        )
        torch.testing.assert_close(step, model.forward_tokens(seq), atol=1e-4, rtol=1e-4)


def test_causal_masking_by_gradients() -> None:
    for positions in ("rope", "learned"):
        model = tiny_gpt(positions=positions)
        ids = torch.randint(5, 200, (1, 12))
        x = model.embed(ids).detach().requires_grad_(True)
        t = 5
        model.trunk(x)[0, t].sum().backward()
        grad = x.grad[0].abs().sum(-1)
        assert grad[t + 1 :].max() == 0  # nothing flows from the future
        assert (grad[: t + 1] > 0).all()  # everything flows from the past


def test_sliding_window_streaming_and_stop_strings() -> None:
    model = tiny_gpt(context_length=16).eval()
    long_prompt = TEXT[:40]
    with pytest.warns(UserWarning, match="longer than the context"):
        out = model.sample(1, prompt=long_prompt, max_new_tokens=50, do_sample=False)
    assert out.shape == (1, 16 + 50)  # the prompt was cut to the context; generation slid past it
    text = model.generate_text("The quick", max_new_tokens=30, do_sample=False)
    assert "".join(model.stream_text("The quick", max_new_tokens=30, do_sample=False)) == text
    cut = model.generate_text("The quick", max_new_tokens=30, do_sample=False, stop_strings=(text[5:7],))
    assert cut == text[: text.find(text[5:7])]
    sampled = model.generate_text(
        "The", max_new_tokens=20, seed=1, top_k=5, top_p=0.9, repetition_penalty=1.3
    )
    assert sampled == model.generate_text(
        "The", max_new_tokens=20, seed=1, top_k=5, top_p=0.9, repetition_penalty=1.3
    )
    with pytest.raises(GenzooError, match="prompt is empty"):
        model.generate_text("")
    with pytest.raises(GenzooError, match="outside the vocabulary"):
        generate(model, torch.tensor([[model.vocab_size + 1]]))


# -- models learn ------------------------------------------------------------------------------------------
def test_tiny_gpt_overfits_a_short_text() -> None:
    torch.manual_seed(0)
    model = tiny_gpt(d_model=64, n_head=4)
    ids = torch.tensor(model.tokenizer.encode(TEXT))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        starts = torch.randint(0, len(ids) - 33, (16,))
        loss = model.loss(torch.stack([ids[s : s + 33] for s in starts]))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3
    model.eval()
    assert model.generate_text("The quick", max_new_tokens=30, do_sample=False) == TEXT[9:39]


def test_fit_logs_mfu_and_save_load_round_trip(tmp_path: Path) -> None:
    train = gz.data.load("pydoc", block_size=32)
    model = gz.create("gpt", data=train, context_length=32, n_layer=1, d_model=32, n_head=2)
    gz.fit(model, train, max_steps=12, batch_size=8, out=tmp_path / "run", progress=False, log_every=2)
    rows = list(csv.DictReader(open(next((tmp_path / "run" / "logs").rglob("metrics.csv")))))
    mfu = [float(r["train/mfu"]) for r in rows if r.get("train/mfu")]
    assert mfu and all(0 < m < 1 for m in mfu)
    loaded = gz.load(tmp_path / "run")
    assert loaded.tokenizer.to_json() == train.tokenizer.to_json()
    assert loaded.generate_text("The ", max_new_tokens=15, seed=0) == model.generate_text(
        "The ", max_new_tokens=15, seed=0
    )
    from genzoo.metrics.text import stream_nll

    val = gz.data.load("pydoc", split="val", block_size=32)
    scores = stream_nll(loaded, val, max_batches=2)
    assert scores["bits_per_char"] < math.log2(train.tokenizer.vocab_size)  # better than uniform


def test_char_rnn_learns_with_truncated_bptt() -> None:
    torch.manual_seed(0)
    tok = CharTokenizer(TEXT)
    model = gz.create(
        "char_rnn", vocab_size=tok.vocab_size, tokenizer=tok.to_json(), hidden=64, n_layer=1, bptt=8
    )
    ids = torch.tensor(tok.encode(TEXT))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        starts = torch.randint(0, len(ids) - 33, (16,))
        loss = model.loss(torch.stack([ids[s : s + 33] for s in starts]))["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 3


def test_seq2seq_learns_to_reverse() -> None:
    from genzoo.data.text_tasks import PairDataset

    torch.manual_seed(0)
    rng = random.Random(0)
    tok = CharTokenizer("abcd")
    words = ["".join(rng.choice("abcd") for _ in range(rng.randint(2, 5))) for _ in range(3000)]
    info = DataInfo(
        "reverse",
        "text",
        None,
        None,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok.to_json(), "task": "reverse", "max_len": 12},
    )
    data = PairDataset([(w, w[::-1]) for w in words], tok, info, 12)
    model = gz.create("seq2seq", data=data, d_model=64, n_head=4, dropout=0.0, label_smoothing=0.05)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    held_out = ["abcd", "dcba", "aabc", "bdca", "cab", "ddab", "bbca", "acd", "dd", "cbda"]
    accuracy = 0.0
    for step in range(1, 901):
        model.train()
        loss = model.loss(data.collate([data[i] for i in torch.randint(0, len(data), (32,)).tolist()]))[
            "loss"
        ]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 150 == 0:
            outs = model.transform(held_out)
            accuracy = sum(o == w[::-1] for o, w in zip(outs, held_out, strict=True)) / len(held_out)
            if accuracy >= 0.9:
                break
    assert accuracy >= 0.9
    assert model.transform(["abcd"], num_beams=3) == ["dcba"]


def test_seq2seq_pointer_generator_learns_to_copy() -> None:
    """copy=True: the output is a proper distribution (log-probs sum to one), it learns the identity task,
    and beam search (which reorders the cache's source ids with the beams) agrees with greedy."""
    from genzoo.data.text_tasks import PairDataset

    torch.manual_seed(0)
    rng = random.Random(0)
    tok = CharTokenizer("abcdefgh")
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 5))) for _ in range(3000)]
    info = DataInfo(
        "copy",
        "text",
        None,
        None,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok.to_json(), "task": "copy", "max_len": 12},
    )
    data = PairDataset([(w, w) for w in words], tok, info, 12)
    model = gz.create("seq2seq", data=data, d_model=64, n_head=4, dropout=0.0, label_smoothing=0.0, copy=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    held_out = [w for w in ("efgh", "hgea", "fdb", "ghhe", "cefg", "hgfe", "ag", "fehb") if w not in words]
    accuracy = 0.0
    for step in range(1, 601):
        model.train()
        batch = data.collate([data[i] for i in torch.randint(0, len(data), (32,)).tolist()])
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            accuracy = sum(o == w for o, w in zip(model.transform(held_out), held_out, strict=True)) / len(held_out)
            if accuracy >= 0.85:
                break
    assert accuracy >= 0.85
    with torch.no_grad():
        cache = model.new_cache_for(torch.tensor([tok.encode("efgh")]))(1)
        logp = model.forward_tokens(torch.tensor([[1]]), cache)
    assert torch.logsumexp(logp, -1).abs().max() < 1e-4
    assert model.transform(held_out[:3], num_beams=3) == model.transform(held_out[:3])


def test_bert_mlm_loss_falls() -> None:
    torch.manual_seed(0)
    train = gz.data.load("pydoc", block_size=31)
    model = gz.create("bert", data=train, n_layer=2, d_model=64, n_head=4, dropout=0.0)
    assert model.config.max_len == 32
    fixed = train.batch(32, generator=torch.Generator().manual_seed(0))

    def eval_loss() -> float:
        torch.manual_seed(1)
        with torch.no_grad():
            return model.loss(fixed)["loss"].item()

    before = eval_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(60):
        loss = model.loss(train.batch(32))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < before - 1.5
    assert model.span_logits(fixed[:2, :10])[0].shape == (2, 10)


# -- metrics and CLI -------------------------------------------------------------------------------------
def test_text_metrics() -> None:
    from genzoo.metrics.text import bleu, exact_match_f1, rouge_l

    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["a dog"], ["the cat sat on the mat"]) < 5
    assert rouge_l(["the cat sat"], ["the cat sat"]) == pytest.approx(1.0)
    scores = exact_match_f1(["The Eiffel tower", "Paris France"], ["eiffel tower", "Paris"])
    assert scores["exact_match"] == 0.5 and scores["f1"] == pytest.approx((1 + 2 / 3) / 2)


@pytest.fixture(scope="module")
def saved_gpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpt")
    torch.manual_seed(0)
    gz.save(tiny_gpt(context_length=24).eval(), path)
    return path


def test_cli_generate_and_errors(saved_gpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "generate",
                str(saved_gpt),
                "--prompt",
                "The ",
                "--max-new-tokens",
                "8",
                "--top-p",
                "0.9",
                "--stream",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    assert len(capsys.readouterr().out) >= 8
    assert main(["generate", str(saved_gpt), "--prompt", "", "--greedy"]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    assert main(["generate", str(saved_gpt), "--prompt", "x", "--top-p", "1.5"]) == 2
    assert main(["translate", str(saved_gpt), "hello"]) == 2  # a gpt is not a seq2seq model
    assert main(["generate", str(saved_gpt.parent / "missing"), "--prompt", "x"]) == 2


def test_chat_loop_driven_through_stdin(saved_gpt: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-m", "genzoo.cli", "chat", str(saved_gpt), "--max-new-tokens", "6", "--seed", "0"],
        input="hello there\nhow are you?\n/reset\nbye\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("bot>") == 3 and "(history cleared)" in proc.stdout


def test_cli_translate_and_summarize_run_a_seq2seq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = gz.data.load("translation_en_fr")
    gz.save(
        gz.create("seq2seq", data=data, d_model=32, n_head=2, enc_layers=1, dec_layers=1).eval(), tmp_path
    )
    assert main(["translate", str(tmp_path), "Germany", "Greek", "--max-new-tokens", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["summarize", str(tmp_path), "--file", str(tmp_path / "missing.txt")]) == 2
