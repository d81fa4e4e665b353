"""Extractive QA (stdlib_qa, squad, bert's span head, `genzoo answer`) and the task download loaders."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.cli import main
from genzoo.data.text_qa import QAExample, encode_with_offsets, qa_dataset, token_span
from genzoo.errors import GenzooError
from genzoo.metrics.text import exact_match_f1
from genzoo.models.transformers.qa import answer, first_sentence_answer, sliding_window_answer


def typed_examples(n: int, seed: int) -> list[QAExample]:
    """'qd 815 XY': the question ("number?", "word?" or "caps?") says which of three spans, in random order,
    is the answer, so the span head has to read the question."""
    rng = random.Random(seed)
    pools = {"number": "0123456789", "word": "abcdefgh", "caps": "WXYZ"}
    out = []
    for _ in range(n):
        parts = {k: "".join(rng.choice(p) for _ in range(rng.randint(1, 4))) for k, p in pools.items()}
        order = list(parts)
        rng.shuffle(order)
        kind = rng.choice(order)
        start = sum(len(parts[o]) + 1 for o in order[: order.index(kind)])
        out.append(QAExample(" ".join(parts[o] for o in order), f"{kind}?", parts[kind], start))
    return out


@pytest.fixture(scope="module")
def trained_bert() -> object:
    train_examples = typed_examples(2000, 0)
    data = qa_dataset("kv", train_examples, "train", tokenizer="char", max_len=24, train_split=train_examples)
    torch.manual_seed(0)
    model = gz.create("bert", data=data, n_layer=2, d_model=64, n_head=4, dropout=0.0)
    assert model.config.max_len == 24
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)  # ~300 steps to EM 1.0 here
    held_out = typed_examples(40, 1)
    for step in range(1, 801):
        model.train()
        batch = data.collate([data[i] for i in torch.randint(0, len(data), (32,)).tolist()])
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            preds = [model.answer(e.question, e.context) for e in held_out]
            if exact_match_f1(preds, [e.answer for e in held_out])["exact_match"] >= 0.95:
                break
    return model.eval()


def test_span_head_learns_to_pick_the_right_span(trained_bert: object) -> None:
    held_out = typed_examples(40, 1)
    preds = [trained_bert.answer(e.question, e.context) for e in held_out]  # type: ignore[attr-defined]
    assert exact_match_f1(preds, [e.answer for e in held_out])["exact_match"] >= 0.95
    # a context longer than the model's window is read in overlapping windows, with a warning
    long = "abc " * 12 + "4213 XY"
    with pytest.warns(UserWarning, match="overlapping windows"):
        text, _ = answer(trained_bert, "number?", long)
    assert text and text in long
    with pytest.raises(GenzooError, match="question is empty"):
        answer(trained_bert, "  ", "a=1")
    with pytest.raises(GenzooError, match="context is empty"):
        answer(trained_bert, "a?", "")


def test_exact_match_and_f1_by_hand() -> None:
    s = exact_match_f1(
        ["the Eiffel Tower!", "in Paris", "", "blue whale"], ["Eiffel tower", "Paris, France", "x", "a whale"]
    )
    assert s["exact_match"] == pytest.approx(1 / 4)
    # "in paris" vs "paris france": 1 common -> p 1/2, r 1/2 -> F1 1/2; "blue whale" vs "whale": p 1/2, r 1 -> 2/3
    assert s["f1"] == pytest.approx((1 + 0.5 + 0 + 2 / 3) / 4)


def test_stdlib_qa_answers_are_real_spans() -> None:
    train = gz.data.load("stdlib_qa", max_len=96)
    test = gz.data.load("stdlib_qa", split="test", max_len=96)
    assert len(train) > 1000 and len(test) > 40
    assert not {e.group for e in train.examples} & {e.group for e in test.examples}
    for i in range(0, len(train), 97):
        item, e = train[i], train.examples[i]
        assert len(item["ids"]) <= 96
        assert train.tokenizer.decode(item["ids"][item["start"] : item["end"] + 1]).strip() == e.answer
    questions = [e.question for e in train.examples]
    for kind in ("What is the default value of ", " return?", " raise?"):
        assert sum(kind in q for q in questions) > 50
    mlm = gz.data.load("stdlib_qa", objective="mlm", max_len=96)
    assert set(mlm.collate([mlm[0], mlm[1]])) == {"ids"}


def test_offsets_and_baselines() -> None:
    from genzoo.data.tokenizers import CharTokenizer

    tok = CharTokenizer("abc =")
    ids, offsets = encode_with_offsets(tok, "ab=é")  # é is not in the vocabulary: two byte tokens
    assert len(ids) == 5 and offsets[-1] == offsets[-2] == (3, 4)
    assert token_span(offsets, 3, 4) == (3, 4)
    context = "isleap(year): Return True for leap years, False otherwise."
    assert first_sentence_answer(context) == "isleap(year)"
    assert sliding_window_answer("What does isleap return?", context)


def test_cli_answer_and_errors(trained_bert: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "qa"
    gz.save(trained_bert, run)
    assert main(["answer", str(run), "--context", "qd 815 XY", "--question", "number?"]) == 0
    assert capsys.readouterr().out.strip() == "815"
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("ZW 44 hgb")
    assert main(["answer", str(run), "--context-file", str(ctx), "--question", "word?"]) == 0
    assert capsys.readouterr().out.strip() == "hgb"
    assert main(["answer", str(run), "--context", "a=1", "--question", ""]) == 2
    assert "question is empty" in capsys.readouterr().err
    assert main(["answer", str(run), "--question", "a?"]) == 2
    assert main(["answer", str(run), "--context-file", str(tmp_path / "none.txt"), "--question", "a?"]) == 2
    gz.save(gz.create("gpt", context_length=8, n_layer=1, d_model=16, n_head=2), tmp_path / "gpt")
    assert main(["answer", str(tmp_path / "gpt"), "--context", "a=1", "--question", "a?"]) == 2


# -- download loaders on small files in the real formats --------------------------------------------------------
def _checksum(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_squad_loader_on_a_small_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genzoo.data import text_qa

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    context = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    doc = {
        "version": "1.1",
        "data": [
            {
                "title": "Normans",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "1",
                                "question": "What country did the Normans give their name to?",
                                "answers": [{"answer_start": context.index("Normandy"), "text": "Normandy"}],
                            }
                        ]
                        * 3,
                    }
                ],
            }
        ],
    }
    files = {}
    for split in ("train", "dev"):
        path = tmp_path / f"{split}-v1.1.json"
        path.write_text(json.dumps(doc))
        files[split] = ([path.as_uri()], path.name, _checksum(path))
    monkeypatch.setattr(text_qa, "SQUAD", files)
    ds = gz.data.load("squad", split="val", max_len=64)
    item = ds[0]
    assert ds.tokenizer.decode(item["ids"][item["start"] : item["end"] + 1]).strip() == "Normandy"
    assert len(gz.data.load("squad", max_len=64)) == 3
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x"}]}')
    files["train"] = ([bad.as_uri()], "bad.json", _checksum(bad))
    with pytest.raises(GenzooError, match="not SQuAD v1.1"):
        gz.data.load("squad")
    files["train"] = (["http://127.0.0.1:9/train.json"], "x.json", "sha256:" + "0" * 64)
    with pytest.raises(GenzooError, match="offline"):
        gz.data.load("squad")


def _tar_gz(path: Path, members: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def test_multi30k_and_cnn_loaders_on_small_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genzoo.data import text_downloads

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    text_downloads.multi30k_pairs.cache_clear()
    text_downloads.cnn_pairs.cache_clear()
    en = ["Two young guys are outside.", "A man plays a guitar.", "A dog runs."] * 4
    de = ["Zwei junge Männer sind draußen.", "Ein Mann spielt Gitarre.", "Ein Hund rennt."] * 4
    archives = {}
    for split, prefix, fname in (
        ("train", "train", "training.tar.gz"),
        ("val", "val", "validation.tar.gz"),
        ("test", "test", "mmt16_task1_test.tar.gz"),
    ):
        path = tmp_path / fname
        _tar_gz(path, {f"{prefix}.en": "\n".join(en) + "\n", f"{prefix}.de": "\n".join(de) + "\n"})
        archives[split] = ([path.as_uri()], fname, _checksum(path))
    monkeypatch.setattr(text_downloads, "MULTI30K", archives)
    ds = gz.data.load("multi30k", split="val")
    assert ds.pairs[0] == (en[0], de[0]) and len(ds) == 12 and ds.info.extra["task"] == "translation"
    assert ds.tokenizer.decode(ds[0][1][1:-1]) == de[0]

    story = (
        "(CNN) -- The city council voted on Tuesday.\n\nThe vote was close.\n\n"
        "@highlight\n\nCouncil votes\n\n@highlight\n\nIt was close\n"
    )
    path = tmp_path / "cnn_stories.tgz"
    _tar_gz(path, {f"cnn/stories/{i:040x}.story": story.replace("Tuesday", f"day {i}") for i in range(60)})
    monkeypatch.setattr(text_downloads, "CNN_STORIES", ([path.as_uri()], path.name, _checksum(path)))
    ds = gz.data.load("cnn_stories", split="all")
    src, tgt = ds.pairs[0]
    assert src.startswith("(CNN) -- The city council voted") and "@highlight" not in src
    assert tgt == "Council votes. It was close."
    assert ds.info.extra["task"] == "summarization"
    monkeypatch.setattr(text_downloads, "CNN_STORIES", (["http://127.0.0.1:9/c.tgz"], "c.tgz", "md5:" + "0" * 32))
    text_downloads.cnn_pairs.cache_clear()
    with pytest.raises(GenzooError, match="offline"):
        gz.data.load("cnn_stories")
    text_downloads.cnn_pairs.cache_clear()
    text_downloads.multi30k_pairs.cache_clear()
