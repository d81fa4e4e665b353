"""The machine-corpus language tasks on tiny files in the real formats this test writes: gettext `.mo`
catalogs (translation pairs, language labels), gzip'd roff man pages (summaries, chat SFT), the models
trained on them (seq2seq, bert_classifier, gpt with an answer-only loss) and `genzoo chat` over turns."""

from __future__ import annotations

import gzip
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.cli import main
from genzoo.data.text_gettext import program_split, read_mo
from genzoo.data.text_manpages import group_split, page_group, parse_manpage
from genzoo.errors import GenzooError

SRC = Path(__file__).resolve().parents[1] / "src"


def write_mo(path: Path, messages: dict[str, str], charset: str = "UTF-8") -> None:
    """A GNU .mo catalog: magic, revision, count, two (length, offset) tables, then the strings."""
    entries = sorted({"": f"Content-Type: text/plain; charset={charset}\n", **messages}.items())
    keys = [k.encode(charset) for k, _ in entries]
    values = [v.encode(charset) for _, v in entries]
    n = len(entries)
    start = 28 + 16 * n
    blob, k_table, v_table = b"", [], []
    for table, strings in ((k_table, keys), (v_table, values)):
        for s in strings:
            table.append((len(s), start + len(blob)))
            blob += s + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + b"".join(struct.pack("<2I", *e) for e in k_table + v_table) + blob)


def programs_in(split: str, split_of, count: int) -> list[str]:  # noqa: ANN001 - a split function
    names = [f"tool{i}z" for i in range(400) if split_of(f"tool{i}z") == split]
    return names[:count]


FR = {"Cancel": "Annuler", "Open file %s": "Ouvrir le fichier %s", "unknown option --%s": "option inconnue --%s",
      "Save": "Enregistrer", "Quit": "Quitter", "Print help": "Afficher l'aide"}
ES = {"Cancel": "Cancelar", "Open file %s": "Abrir el archivo %s", "unknown option --%s": "opción desconocida --%s",
      "Save": "Guardar", "Quit": "Salir", "Print help": "Mostrar la ayuda"}


@pytest.fixture(scope="module")
def locale_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("locale")
    train = programs_in("train", program_split, 3)
    test = programs_in("test", program_split, 1) + programs_in("val", program_split, 1)
    for lang, table in (("fr", FR), ("es", ES)):
        for k, prog in enumerate(train):
            own = {f"{src} ({prog})": f"{tgt} ({prog})" for src, tgt in table.items()}
            write_mo(root / lang / "LC_MESSAGES" / f"{prog}-{k + 1}.mo", {**table, **own})
        for prog in test:
            held = {f"Held {src} {prog}": f"{tgt} {prog}" for src, tgt in table.items()}
            write_mo(root / lang / "LC_MESSAGES" / f"{prog}.mo", {"Cancel": table["Cancel"], **held})
    return root


def test_read_mo_parses_the_format_with_plurals_and_contexts(tmp_path: Path) -> None:
    path = tmp_path / "x.mo"
    write_mo(path, {"menu\x04Open": "Ouvrir", "%d file\0%d files": "%d fichier\0%d fichiers", "Empty": "",
                    "Line\nbreak": "Saut\nde ligne"})
    assert sorted(read_mo(path)) == [("%d file", "%d fichier"), ("Line\nbreak", "Saut\nde ligne"), ("Open", "Ouvrir")]
    write_mo(path, {"Caf\u00e9": "Caf\u00e9 cr\u00e8me"}, charset="ISO-8859-1")
    assert read_mo(path) == [("Caf\u00e9", "Caf\u00e9 cr\u00e8me")]
    path.write_bytes(b"not a catalog at all, sorry")
    with pytest.raises(GenzooError, match="not a gettext .mo catalog"):
        read_mo(path)


def test_gettext_pairs_hold_out_whole_programs_and_record_the_corpus(locale_root: Path) -> None:
    opts = {"root": str(locale_root), "vocab_size": 300, "max_len": 32}
    train = gz.data.load("gettext_pairs", **opts)
    test = gz.data.load("gettext_pairs", split="test", **opts)
    assert ("Cancel", "Annuler") in train.pairs and len(set(train.sources)) == len(train.sources)
    assert test.pairs and all(s.startswith("Held ") for s in test.sources)  # "Cancel" is a train message
    assert not set(test.sources) & set(train.sources)
    extra = train.info.extra
    assert extra["catalogs"] == 5 and len(extra["catalogs_sha1"]) == 40 and extra["programs"]["train"] == 3
    es_fr = gz.data.load("gettext_pairs", source="es", **opts)
    assert ("Cancelar", "Annuler") in es_fr.pairs and es_fr.info.extra["catalogs"] == 10
    src, tgt = train[0]
    assert src.dtype == torch.long and int(tgt[0]) == 1 and int(tgt[-1]) == 2  # <bos> ... <eos>
    with pytest.raises(GenzooError, match=r"no gettext catalogs \(\*\.mo\) for language 'de'"):
        gz.data.load("gettext_pairs", root=str(locale_root), target="de")


def test_missing_folders_fail_in_one_line_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for data in ("gettext_pairs", "manpage_summaries", "gettext_languages", "manpage_chat"):
        argv = ["train", "seq2seq", "--data", data, "-d", f"root={tmp_path / 'nowhere'}", "--out", str(tmp_path / "r")]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("genzoo: error: no ") and "nowhere" in err[0], err


def test_seq2seq_trains_on_catalogs_and_copies_placeholders_by_id(locale_root: Path) -> None:
    data = gz.data.load("gettext_pairs", root=str(locale_root), vocab_size=300, max_len=32)
    tok = data.tokenizer
    assert [t for t in tok.encode("Ouvrir le fichier %s") if t in tok.encode("Open file %s")]  # shared ids
    torch.manual_seed(0)
    model = gz.create("seq2seq", data=data, d_model=32, n_head=2, enc_layers=1, dec_layers=1, copy=True)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = data.collate([data[i] for i in range(len(data))])
    first = float(model.loss(batch)["nll"])
    for _ in range(30):
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(model.loss(batch)["nll"]) < 0.6 * first
    out = model.eval().transform(["Open file %s"], num_beams=3, max_new_tokens=12)
    assert len(out) == 1 and isinstance(out[0], str)


ROFF = r""".\" generated for the test
.TH FROB 1 "2024" "frob 1.0" "User Commands"
.SH NAME
frob \- frobnicate the \fBwidgets\fR quickly
.SH SYNOPSIS
.B frob
[\fI\,OPTION\/\fR]...
.SH DESCRIPTION
.PP
Frobnicate every widget in the \fIcurrent\fR directory.
Widgets named with \fB\-\-only\fR are the only ones touched.
.TP
\fB\-a\fR, \fB\-\-all\fR
frobnicate hidden widgets too
.SH "SEE ALSO"
.BR ls (1)
"""

MDOC = """.Dd 2024
.Dt ZAP 1
.Sh NAME
.Nm zap
.Nd remove stale widgets from a directory
.Sh DESCRIPTION
The
.Nm
utility removes every stale widget it finds, reporting each one on standard output.
"""


def write_pages(folder: Path, n: int) -> None:
    """n gzip'd man pages whose names land in train, val and test (plus one .so redirect and one mdoc)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [*programs_in("train", group_split, n), *programs_in("test", group_split, 2)]
    names += programs_in("val", group_split, 1)
    for i, name in enumerate(names):
        page = ROFF.replace("frob", name).replace("every widget", f"all {i} widgets")
        (folder / f"{name}.1.gz").write_bytes(gzip.compress(page.encode()))
    (folder / "zap.1.gz").write_bytes(gzip.compress(MDOC.encode()))
    (folder / "alias.1.gz").write_bytes(gzip.compress(b".so man1/tool0z.1\n"))


def test_man_pages_parse_roff_and_mdoc() -> None:
    name, summary, description = parse_manpage(ROFF)  # type: ignore[misc]
    assert (name, summary) == ("frob", "frobnicate the widgets quickly")
    assert description.startswith("Frobnicate every widget in the current directory. Widgets named with --only")
    assert "-a, --all frobnicate hidden widgets too" in description and "SEE ALSO" not in description
    assert parse_manpage(MDOC) == ("zap", "remove stale widgets from a directory",
                                   "The zap utility removes every stale widget it finds, reporting each one on "
                                   "standard output.")
    assert parse_manpage(".so man1/other.1\n") is None
    assert page_group("gcc-12") == page_group("gcc") == "gcc"
    assert page_group("gcloud alpha kms keys create") == page_group("gcloud kms keys list") == "gcloud kms"


def test_manpage_summaries_from_a_folder(tmp_path: Path) -> None:
    write_pages(tmp_path / "man1", 6)
    opts = {"root": str(tmp_path / "man1"), "vocab_size": 300}
    train = gz.data.load("manpage_summaries", **opts)
    test = gz.data.load("manpage_summaries", split="test", **opts)
    assert len(test) >= 2 and all(t.endswith("nicate the widgets quickly") for t in test.targets)
    assert not set(test.sources) & set(train.sources)
    extra = train.info.extra
    assert extra["pages_found"] == 11 and extra["pages_used"] == 10 and len(extra["pages_sha1"]) == 40
    assert gz.data.load("manpage_summaries", max_chars=30, **opts).sources[0].__len__() <= 30


def test_chat_examples_take_the_loss_on_the_answer_only(tmp_path: Path) -> None:
    write_pages(tmp_path / "man1", 6)
    opts = {"root": str(tmp_path / "man1"), "vocab_size": 300, "block_size": 64}
    sft = gz.data.load("manpage_chat", **opts)
    lm = gz.data.load("manpage_chat", objective="lm", **opts)
    item = sft[0]
    answer = sft.tokenizer.decode(item["ids"][item["loss_mask"]])
    assert answer == " " + sft.answers[0] and sft.prompts[0].endswith(" do?\nBot:")
    assert sft.tokenizer.decode(item["ids"][~item["loss_mask"]]).endswith("\nBot:")
    model = gz.create("gpt", data=lm, context_length=64, n_layer=1, d_model=32, n_head=2)
    batch = sft.collate([sft[i] for i in range(3)])
    masked = model.loss(batch)["loss"].item()
    full = model.loss(batch["ids"])["loss"].item()
    assert masked != full and torch.isfinite(torch.tensor(masked))
    batch["loss_mask"][:] = False
    batch["loss_mask"][0, -1] = True  # one answer token: the loss is that token's alone
    ids = batch["ids"][:1]
    logits = model.forward_tokens(ids[:, :-1])
    one = -torch.log_softmax(logits[0, -1].float(), -1)[ids[0, -1]]
    assert torch.allclose(model.loss(batch)["loss"], one, atol=1e-5)
    assert float(lm.collate([lm[0], lm[1]]).shape[0]) == 2


def test_bert_classifier_pretrains_then_fine_tunes_on_language_labels(locale_root: Path) -> None:
    opts = {"root": str(locale_root), "languages": "fr,es", "vocab_size": 300, "max_len": 24}
    data = gz.data.load("gettext_languages", **opts)
    mlm = gz.data.load("gettext_languages", objective="mlm", **opts)
    assert data.info.classes == ["fr", "es"] and set(data.labels) == {0, 1}
    assert set(mlm.collate([mlm[0]])) == {"ids"} and set(data.collate([data[0]])) == {"ids", "labels"}
    torch.manual_seed(0)
    model = gz.create("bert_classifier", data=data, n_layer=1, d_model=32, n_head=2)
    assert model.num_classes == 2
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for source in (mlm, data, data, data):
        for _ in range(10):
            loss = model.loss(source.collate([source[i] for i in range(len(source))]))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    ids = torch.stack([data[i][0] for i in range(len(data))])
    probs = model.classify(ids)
    assert probs.shape == (len(data), 2) and torch.allclose(probs.sum(1), torch.ones(len(data)), atol=1e-5)
    assert float((probs.argmax(1) == torch.tensor(data.labels)).float().mean()) > 0.9
    with pytest.raises(GenzooError, match="needs labelled text"):
        gz.create("bert_classifier", data=gz.data.load("gettext_pairs", root=str(locale_root), vocab_size=300))


def test_bert_classifier_mean_pooling_ignores_padding(locale_root: Path) -> None:
    """Mean pooling averages the token vectors only: more padding leaves the logits as they were."""
    opts = {"root": str(locale_root), "languages": "fr,es", "vocab_size": 300, "max_len": 24}
    data = gz.data.load("gettext_languages", **opts)
    torch.manual_seed(0)
    model = gz.create("bert_classifier", data=data, n_layer=1, d_model=32, n_head=2, pooling="mean").eval()
    ids = data[0][0][None]
    length = int((ids != model.config.pad_id).sum())
    short, padded = ids[:, :length], torch.nn.functional.pad(ids[:, :length], (0, 5), value=model.config.pad_id)
    assert torch.allclose(model.class_logits(short), model.class_logits(padded), atol=1e-5)
    cls = gz.create("bert_classifier", data=data, n_layer=1, d_model=32, n_head=2).eval()
    cls.load_state_dict(model.state_dict())
    assert not torch.allclose(cls.class_logits(short), model.class_logits(short))
    with pytest.raises(GenzooError, match="pooling"):
        gz.create("bert_classifier", data=data, n_layer=1, d_model=32, n_head=2, pooling="max")


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chat")
    write_pages(root / "man1", 6)
    sft = gz.data.load("manpage_chat", root=str(root / "man1"), vocab_size=300, block_size=64)
    model = gz.create("gpt", data=sft, context_length=64, n_layer=1, d_model=32, n_head=2)
    gz.fit(model, sft, max_steps=3, batch_size=4, out=root / "run", progress=False)
    return root / "run"


def test_genzoo_chat_holds_a_multi_turn_conversation_through_piped_stdin(chat_run: Path) -> None:
    turns = "What does tool0z do?\nAnd what does zap do?\nWhat about its options?\n/reset\nWhat does frob do?\n"
    proc = subprocess.run(
        [sys.executable, "-m", "genzoo.cli", "chat", str(chat_run), "--system", "Page: Frobnicate every widget.",
         "--max-new-tokens", "12", "--seed", "0"],
        input=turns, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("bot>") == 4 and "(history cleared)" in proc.stdout


def test_chat_history_carries_earlier_turns_and_reset_clears_it(
    chat_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = gz.load(chat_run)
    prompts: list[str] = []
    real = model.stream_text

    def recording(prompt: str, config=None):  # noqa: ANN001, ANN202 - wraps the real method
        prompts.append(prompt)
        return real(prompt, config)

    monkeypatch.setattr(model, "stream_text", recording)
    monkeypatch.setattr(gz, "load", lambda run, needs=None: model)
    monkeypatch.setattr(sys, "stdin", io.StringIO("What does tool0z do?\nAnd zap?\n/reset\nHi\n"))
    assert main(["chat", str(chat_run), "--system", "Page: Frobnicate.", "--greedy", "--max-new-tokens", "5"]) == 0
    out = capsys.readouterr().out
    first_reply = out.split("bot>")[1].splitlines()[0]
    assert prompts[0] == "Page: Frobnicate.\nUser: What does tool0z do?\nBot:"
    # the history (trimmed from the left to fit the tiny context) carries the first turn and its reply
    assert prompts[1].endswith(f"User: What does tool0z do?\nBot:{first_reply}\nUser: And zap?\nBot:")
    assert prompts[2] == "Page: Frobnicate.\nUser: Hi\nBot:"
