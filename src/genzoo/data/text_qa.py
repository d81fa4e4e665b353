"""Extractive question answering data: `stdlib_qa` (offline, built here) and `squad` (SQuAD v1.1 download).

`stdlib_qa` is built deterministically from the standard library's own source, parsed with `ast` (nothing is
imported). Each public function or method gives one *context*: its signature and docstring,
``"name(args): docstring"`` (whitespace collapsed, cut at 400 characters). Three kinds of question are asked,
each only when its answer lies inside that context, and the answer is always a span of it:

- ``What is the default value of P in NAME?`` -> the default's source text in the signature (``'strict'``,
  ``8192``) — at most two parameters per function, so long signatures do not dominate, and never a ``None``
  default (a third of all defaults: answering "None" every time would score well without reading);
- ``What does NAME return?`` -> the phrase after "Return"/"Returns" in the docstring's first sentence
  (``the number of items in a container``), kept when it is 2..12 words;
- ``What does NAME raise?`` -> the first exception named after "raise"/"raises" in the docstring
  (``ValueError``).

The answers are facts the library's authors wrote; the questions are templates, so this set tests reading
a signature or a docstring, not open-domain comprehension. Splits (90/5/5) are fixed by a hash of the
function's module and name, so all questions about one function share a split.

Items are ``{"ids", "start", "end"}``: ``<bos> question <sep> context`` token ids (cut to `max_len`) and
the answer's first/last token positions. A context too long for `max_len` is cut to a window that holds the
answer (training); `genzoo.models.transformers.qa` reads long contexts at answer time in overlapping
windows. With ``objective="mlm"`` the same items carry only ``ids`` and train BERT's masked-LM head
(pretraining on the task's own text before fine-tuning the span head).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from genzoo.data.cache import cache_dir, fetch
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.tokenizers import BOS, PAD, SEP, BPETokenizer, CharTokenizer, Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError

SQUAD = {
    "train": (
        ["https://rajpurkar.github.io/SQuAD-explorer/dataset/train-v1.1.json"],
        "train-v1.1.json",
        "sha256:3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955",
    ),
    "dev": (
        ["https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json"],
        "dev-v1.1.json",
        "sha256:95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
    ),
}
MAX_CONTEXT = 400
_SKIP_DIRS = {
    "site-packages",
    "dist-packages",
    "test",
    "tests",
    "idlesite",
    "idlelib",
    "lib2to3",
    "turtledemo",
    "ensurepip",
    "__pycache__",
    "config-3",
}


@dataclass(frozen=True)
class QAExample:
    """One question about one context; `answer_start` is the answer's character offset in the context."""

    context: str
    question: str
    answer: str
    answer_start: int
    group: str = ""  # examples sharing a group share a split

    def __post_init__(self) -> None:
        if self.context[self.answer_start : self.answer_start + len(self.answer)] != self.answer:
            raise GenzooError(f"answer {self.answer!r} is not at offset {self.answer_start} of its context")


# -- building stdlib_qa -------------------------------------------------------------------------------------
_RETURNS = re.compile(r"^Returns? (.+?)\.(?:\s|$)")
_RAISES = re.compile(r"\b[Rr]aises? (?:an? |the )?([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt))\b")


def _function_examples(name: str, node: ast.FunctionDef | ast.AsyncFunctionDef, group: str) -> list[QAExample]:
    doc = ast.get_docstring(node)
    if not doc:
        return []
    head = f"{name}({ast.unparse(node.args)}): "
    context = (head + " ".join(doc.split()))[:MAX_CONTEXT]
    out: list[QAExample] = []
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
    defaults += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
    for arg, default in defaults[:2]:
        value = ast.unparse(default)
        match = re.search(rf"\b{re.escape(arg.arg)}(?:: [^=,]+)?=({re.escape(value)})", head)
        if match and value != "None" and len(value) <= 40:
            question = f"What is the default value of {arg.arg} in {name}?"
            out.append(QAExample(context, question, value, match.start(1), group))
    body = context[len(head) :]
    returns = _RETURNS.match(body)
    if returns and 2 <= len(returns.group(1).split()) <= 12:
        answer_at = len(head) + returns.start(1)
        out.append(QAExample(context, f"What does {name} return?", returns.group(1), answer_at, group))
    raises = _RAISES.search(body)
    if raises:
        out.append(QAExample(context, f"What does {name} raise?", raises.group(1), len(head) + raises.start(1), group))
    return out


def _module_examples(module: str, tree: ast.Module) -> list[QAExample]:
    out: list[QAExample] = []

    def visit(nodes: list[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and not prefix:
                visit(node.body, node.name + ".")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                name = prefix + node.name
                out.extend(_function_examples(name, node, f"{module}.{name}"))

    visit(tree.body, "")
    return out


@functools.lru_cache(maxsize=1)
def stdlib_qa_examples() -> list[QAExample]:
    """Every question the rules above find in the standard library (cached as JSON per Python version)."""
    cache = cache_dir() / "text" / f"stdlib-qa-v3-{sys.version_info[0]}.{sys.version_info[1]}-{MAX_CONTEXT}.json"
    if cache.is_file():
        return [QAExample(**e) for e in json.loads(cache.read_text())]
    lib = Path(sysconfig.get_paths()["stdlib"])
    out: list[QAExample] = []
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib)
        if set(rel.parts[:-1]) & _SKIP_DIRS:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        out.extend(_module_examples(".".join(rel.with_suffix("").parts), tree))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps([e.__dict__ for e in out]))
    os.replace(tmp, cache)
    return out


def split_examples(examples: list[QAExample], split: str) -> list[QAExample]:
    if split == "all":
        return examples
    if split not in ("train", "val", "test"):
        raise GenzooError(f"unknown split {split!r}; choose train, val, test or all")
    want = {"train": set(range(18)), "val": {18}, "test": {19}}[split]
    return [e for e in examples if int(hashlib.sha1(e.group.encode()).hexdigest()[:8], 16) % 20 in want]


# -- tokens with character offsets ----------------------------------------------------------------------------
def encode_with_offsets(tok: Tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of `text` and each token's (start, end) character span, so answers map back to text."""
    if isinstance(tok, BPETokenizer):
        enc = tok.hf.encode(text, add_special_tokens=False)
        return list(enc.ids), [tuple(o) for o in enc.offsets]  # type: ignore[misc]
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        piece = tok.encode(ch)
        ids += piece
        offsets += [(i, i + 1)] * len(piece)
    return ids, offsets


def token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """First and last token covering the characters [start, end) (a token's leading space counts as its)."""
    first = next(i for i, (_, e) in enumerate(offsets) if e > start)
    last = max(i for i, (s, _) in enumerate(offsets) if s < end)
    return first, last


class QADataset(Dataset):
    """Question/context/answer examples as `<bos> question <sep> context` windows with span labels."""

    def __init__(
        self, examples: list[QAExample], tokenizer: Tokenizer, info: DataInfo, max_len: int, objective: str
    ) -> None:
        if not examples:
            raise GenzooError(f"dataset {info.name!r} has no examples for this split")
        if objective not in ("span", "mlm"):
            raise GenzooError(f"objective must be span or mlm, got {objective!r}")
        self.examples = examples
        self.tokenizer = tokenizer
        self.info = info
        self.max_len = max_len
        self.objective = objective

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        e = self.examples[i]
        q = [BOS] + self.tokenizer.encode(e.question)[: self.max_len // 2] + [SEP]
        ids, offsets = encode_with_offsets(self.tokenizer, e.context)
        first, last = token_span(offsets, e.answer_start, e.answer_start + len(e.answer))
        room = self.max_len - len(q)
        lo = 0 if last < room else min(first, len(ids) - room)  # a window that holds the answer
        window = ids[lo : lo + room]
        item = {"ids": torch.tensor(q + window, dtype=torch.long)}
        if self.objective == "span":
            item["start"] = torch.tensor(len(q) + first - lo)
            item["end"] = torch.tensor(min(len(q) + last - lo, self.max_len - 1))
        return item

    @staticmethod
    def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        out = {"ids": pad_sequence([it["ids"] for it in items], batch_first=True, padding_value=PAD)}
        if "start" in items[0]:
            out["start"] = torch.stack([it["start"] for it in items])
            out["end"] = torch.stack([it["end"] for it in items])
        return out


def qa_dataset(
    name: str,
    examples: list[QAExample],
    split: str,
    tokenizer: str = "bpe",
    vocab_size: int = 2000,
    max_len: int = 192,
    objective: str = "span",
    train_split: list[QAExample] | None = None,
) -> QADataset:
    """The split's examples with a tokenizer trained on the train split's questions and contexts (cached)."""
    train = train_split if train_split is not None else split_examples(examples, "train")
    text = "\n".join(sorted({e.context for e in train}) + sorted({e.question for e in train}))
    digest = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
    path = cache_dir() / "text" / f"{name}-{digest}-{tokenizer}{vocab_size}p.tokenizer.json"
    if not path.is_file():
        tok: Tokenizer
        if tokenizer == "bpe":
            tok = BPETokenizer.train(text, vocab_size, isolate_punctuation=True)
        elif tokenizer == "char":
            tok = CharTokenizer.train(text)
        else:
            raise GenzooError(f"unknown tokenizer {tokenizer!r}; choose char or bpe")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(tok.to_json())
        os.replace(tmp, path)
    tok_json = path.read_text()
    tok = tokenizer_from_json(tok_json)
    info = DataInfo(
        name,
        "text",
        None,
        None,
        None,
        {"vocab_size": tok.vocab_size, "tokenizer": tok_json, "task": "qa", "max_len": max_len},
    )
    chosen = split_examples(examples, split) if train_split is None else examples
    return QADataset(chosen, tok, info, max_len, objective)


@register_dataset("stdlib_qa", "extractive QA over stdlib signatures and docstrings (offline, rule-built)")
def stdlib_qa(split: str = "train", **options: Any) -> QADataset:
    return qa_dataset("stdlib_qa", stdlib_qa_examples(), split, **options)


# -- SQuAD v1.1 -----------------------------------------------------------------------------------------------
def read_squad(path: Path) -> list[QAExample]:
    """SQuAD v1.1 JSON -> examples (the first gold answer of each question; groups = article titles)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        out = []
        for article in doc["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    a = qa["answers"][0]
                    out.append(
                        QAExample(para["context"], qa["question"], a["text"], int(a["answer_start"]), article["title"])
                    )
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise GenzooError(f"{path} is not SQuAD v1.1 JSON ({type(e).__name__}: {e})") from None
    return out


@register_dataset("squad", "SQuAD v1.1: 88k/10.5k questions on Wikipedia (download, sha256-checked)")
def squad(split: str = "train", **options: Any) -> QADataset:
    """The official train file is the train split; the dev file serves as both val and test."""
    if split not in ("train", "val", "test"):
        raise GenzooError(f"unknown split {split!r}; squad has train, val and test (= dev)")
    train = read_squad(fetch(*SQUAD["train"], "squad"))
    examples = train if split == "train" else read_squad(fetch(*SQUAD["dev"], "squad"))
    options.setdefault("max_len", 384)
    return qa_dataset("squad", examples, split, train_split=train, **options)
