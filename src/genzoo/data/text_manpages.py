"""Summarisation and instruction pairs from installed manual pages (gzip'd roff), read offline.

Each page in `/usr/share/man/man1` carries a one-line summary its author wrote (the NAME section:
`ls \\- list directory contents`) and a DESCRIPTION section: description -> summary is a real
summarisation set. The roff is turned into plain text here (macros that carry text keep it, the rest and
the font/escape sequences go); pages that only redirect (`.so`) or lack either section are skipped.

- `manpage_summaries`: DESCRIPTION (its first `max_chars` characters) -> NAME line, for `seq2seq`.
- `manpage_chat`: the same pages as chat turns for instruction tuning a `gpt`, in the template
  `genzoo chat` speaks (`Page: ...\\nUser: What does X do?\\nBot: <summary>\\n`), with the loss on the
  answer only; with `objective="lm"` the plain page texts of the train split, to pretrain the same model.

Pages are split by command name with version suffixes stripped (`gcc-12` with `gcc`), so a held-out page
is not a renamed copy of a training one, and identical descriptions are kept once.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.text_tasks import PairDataset, pair_dataset_from_splits
from genzoo.data.tokenizers import EOS, PAD, Tokenizer, train_tokenizer
from genzoo.errors import GenzooError

MAN_ROOT = "/usr/share/man/man1"
TEXT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "Nm", "Nd", "Ar", "Fl", "Pa", "Xr",
               "Em", "Sy", "Cm", "Dq", "Qq", "Ql", "Li", "Ev", "Va", "Ic", "Op", "It"}
ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[-+]?\d+"), ""),  # size changes
    (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), ""),  # string registers
    (re.compile(r"\\\((em|en)"), "-"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((oq|cq|aq)"), "'"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
    (re.compile(r"\\\."), "."),
    (re.compile(r"\\[&|^,/c%:)]"), ""),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),  # last: a printed backslash stays one
]


def roff_text(line: str) -> str:
    """One line of roff as plain text: escapes removed, text-carrying macros (`.B ls`) kept, others ''."""
    if line.startswith((".", "'")):
        head, _, rest = line[1:].strip().partition(" ")
        if head not in TEXT_MACROS:
            return ""
        line = rest.replace('"', "")
    for pattern, repl in ESCAPES:
        line = pattern.sub(repl, line)
    return line.strip()


def parse_manpage(text: str) -> tuple[str, str, str] | None:
    """(name, one-line summary, description) of a roff page, or None where a section is missing."""
    sections: dict[str, list[str]] = {}
    current, page_name = "", ""
    for raw in text.splitlines():
        if raw.startswith((".so ", '.\\"', "'\\\"")):
            if raw.startswith(".so "):
                return None
            continue
        head = raw[1:].split(" ", 1)[0] if raw.startswith(".") else ""
        if head in ("SH", "Sh"):
            current = raw[3:].strip().strip('"').upper()
            continue
        if head == "Nd":
            sections.setdefault("NAME", []).append("\\- " + raw[3:].strip())
            continue
        if head == "Nm":  # mdoc: the first `.Nm name` names the page; a bare `.Nm` repeats it
            page_name = page_name or raw[3:].strip().split(" ")[0]
            raw = f".Nm {raw[3:].strip() or page_name}"
        piece = roff_text(raw)
        if piece and current:
            sections.setdefault(current, []).append(piece)
    name_line = " ".join(sections.get("NAME", []))
    description = " ".join(" ".join(sections.get("DESCRIPTION", [])).split())
    parts = re.split(r"\s+(?:\\-|-|—)\s+", name_line, maxsplit=1)
    if len(parts) != 2 or len(description) < 40:
        return None
    name, summary = parts[0].strip(), " ".join(parts[1].split())
    if not summary or len(summary) > 200:
        return None
    return name, summary, description


def page_group(name: str) -> str:
    """The command a page documents, held out as a whole: version suffixes stripped (`gcc-12` with `gcc`);
    for a command suite documented page by page (`gcloud alpha kms keys create`) the suite and its first
    subcommand, release tracks ignored, so the alpha/beta copies of a page land in the same split."""
    words = [w for w in name.split(",")[0].split() if w not in ("alpha", "beta", "preview")]
    if len(words) > 1:
        return " ".join(words[:2])
    return re.sub(r"([-.]?\d+)+$", "", words[0] if words else name) or name


def group_split(group: str) -> str:
    """Fixed train / val / test (85 / 5 / 10 %) by a hash of the command's group."""
    bucket = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) % 20
    return "test" if bucket < 2 else "val" if bucket == 2 else "train"


@functools.lru_cache(maxsize=4)
def read_manpages(root: str) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """Every parseable page under `root` as (name, summary, description), identical descriptions once."""
    folder = Path(root)
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    files = [p for p in files if re.search(r"\.\d\w*(\.gz)?$", p.name)]
    if not files:
        raise GenzooError(f"no manual pages (*.1, *.1.gz) in {folder}")
    pages: dict[str, tuple[str, str, str]] = {}
    for path in files:
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        parsed = parse_manpage(raw.decode("utf-8", errors="replace"))
        if parsed is not None:
            pages.setdefault(parsed[2], parsed)
    listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in files)
    facts = {"pages_found": len(files), "pages_used": len(pages),
             "pages_sha1": hashlib.sha1(listing.encode()).hexdigest()}
    if not pages:
        raise GenzooError(f"none of the {len(files)} files in {folder} is a man page with NAME and DESCRIPTION")
    return sorted(pages.values()), facts


def pages_by_split(root: str) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, Any]]:
    pages, facts = read_manpages(root)
    out: dict[str, list[tuple[str, str, str]]] = {"train": [], "val": [], "test": []}
    for page in pages:
        out[group_split(page_group(page[0]))].append(page)
    return out, facts


@register_dataset("manpage_summaries", "man page DESCRIPTION -> its NAME one-liner (held-out commands, offline)")
def manpage_summaries(
    split: str = "train",
    root: str = MAN_ROOT,
    max_chars: int = 400,
    max_len: int = 128,
    tokenizer: str = "bpe",
    vocab_size: int = 4000,
) -> PairDataset:
    """The first `max_chars` characters of each page's description -> its one-line summary."""
    splits, facts = pages_by_split(str(root))
    pairs = {k: [(d[:max_chars], s) for _, s, d in v] for k, v in splits.items()}
    chosen = [p for v in pairs.values() for p in v] if split == "all" else pairs.get(split, [])
    if not chosen:
        raise GenzooError(f"no man pages in the {split!r} split under {root}")
    data = pair_dataset_from_splits(
        "manpage_summaries", pairs["train"] or chosen, chosen, "summarization", max_len, tokenizer, vocab_size
    )
    data.info.extra.update(facts)
    return data


def chat_prompt(name: str, page: str) -> str:
    """The prompt of one instruction example, in the turn format `genzoo chat` writes."""
    return f"Page: {page}\nUser: What does {name} do?\nBot:"


class ChatExamples(Dataset):
    """Prompt + answer token sequences with a mask that is 1 on the answer (and its end) only, so
    supervised fine-tuning learns to answer, not to write pages. Items are dicts `gpt` trains on."""

    def __init__(self, prompts: list[str], answers: list[str], tokenizer: Tokenizer, info: DataInfo) -> None:
        self.prompts, self.answers, self.tokenizer, self.info = prompts, answers, tokenizer, info
        self.max_len = int(info.extra["block_size"]) + 1

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        answer = self.tokenizer.encode(" " + self.answers[i])[: self.max_len // 2] + [EOS]
        prompt = self.tokenizer.encode(self.prompts[i])
        prompt = prompt[-(self.max_len - len(answer)) :]  # keep the question: cut the page from the left
        ids = prompt + answer
        mask = [0] * len(prompt) + [1] * len(answer)
        return {"ids": torch.tensor(ids), "loss_mask": torch.tensor(mask, dtype=torch.bool)}

    @staticmethod
    def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        return {
            "ids": pad_sequence([x["ids"] for x in items], batch_first=True, padding_value=PAD),
            "loss_mask": pad_sequence([x["loss_mask"] for x in items], batch_first=True, padding_value=False),
        }


class PageWindows(Dataset):
    """Plain next-token windows over the train pages' text (pretraining before instruction tuning)."""

    def __init__(self, ids: list[int], tokenizer: Tokenizer, info: DataInfo) -> None:
        self.block = int(info.extra["block_size"])
        self.ids = torch.tensor(ids, dtype=torch.long)
        self.tokenizer, self.info = tokenizer, info
        if len(self.ids) <= self.block + 1:
            raise GenzooError("too little page text for one pretraining window")

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.block

    def __getitem__(self, i: int) -> Tensor:
        return self.ids[i * self.block : i * self.block + self.block + 1]

    @staticmethod
    def collate(items: list[Tensor]) -> Tensor:
        return torch.stack(items)


@register_dataset("manpage_chat", "instruction pairs from man pages ('What does X do?' -> NAME line, page in context)")
def manpage_chat(
    split: str = "train",
    root: str = MAN_ROOT,
    objective: str = "sft",
    page_chars: int = 300,
    block_size: int = 128,
    vocab_size: int = 4000,
) -> Dataset:
    """objective "sft": chat examples (loss on the answer); "lm": the train pages' text, for pretraining.
    Both share one BPE trained on the train pages, so a pretrained run can be fine-tuned on the other."""
    if objective not in ("sft", "lm"):
        raise GenzooError(f"objective must be sft or lm, got {objective!r}")
    splits, facts = pages_by_split(str(root))
    train = splits["train"] or splits["test"]
    corpus = [f"{n}: {s}\n{d}\n" for n, s, d in train]
    tok = train_tokenizer("bpe", "".join(corpus), vocab_size)
    info = DataInfo(
        "manpage_chat",
        "text",
        None,
        None,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok.to_json(), "block_size": block_size, **facts},
    )
    if objective == "lm":
        ids: list[int] = []
        for text in corpus:
            ids += tok.encode(text) + [EOS]
        return PageWindows(ids, tok, info)
    pages = [p for v in splits.values() for p in v] if split == "all" else splits.get(split, [])
    if not pages:
        raise GenzooError(f"no man pages in the {split!r} split under {root}")
    return ChatExamples([chat_prompt(n, d[:page_chars]) for n, _, d in pages], [s for _, s, _ in pages], tok, info)
