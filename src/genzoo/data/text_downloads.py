"""Download loaders for the standard translation and summarisation sets (checksummed, one-line offline error).

- `multi30k`: Multi30k (Elliott et al. 2016), English -> German image captions, 29k / 1014 / 1000 pairs, the
  WMT16 multimodal task-1 archives (`train.en`/`train.de`, `val.*`, `test.*`), sha256 as torchtext checks them.
- `cnn_stories`: the CNN half of CNN/DailyMail (Hermann et al. 2015; See et al. 2017's summarisation form),
  92k `.story` files: the article is the text before the first ``@highlight``; the summary is the highlights
  joined as sentences. Splits are 90/5/5 by a hash of the story's file name, not the official URL lists.

Both give the same `PairDataset` as the offline tasks in `text_tasks` (so `seq2seq` and `genzoo translate /
summarize` use them unchanged), with a tokenizer trained on the train split only.
"""

from __future__ import annotations

import functools
import hashlib
import tarfile
from pathlib import Path
from typing import Any

from genzoo.data.cache import fetch
from genzoo.data.registry import register_dataset
from genzoo.data.text_tasks import PairDataset, pair_dataset_from_splits
from genzoo.errors import GenzooError

_MULTI30K_BASE = "https://raw.githubusercontent.com/neychev/small_DL_repo/master/datasets/Multi30k/"
MULTI30K = {
    "train": (
        [_MULTI30K_BASE + "training.tar.gz", "http://www.quest.dcs.shef.ac.uk/wmt16_files_mmt/training.tar.gz"],
        "training.tar.gz",
        "sha256:20140d013d05dd9a72dfde46478663ba05737ce983f478f960c1123c6671be5e",
    ),
    "val": (
        [_MULTI30K_BASE + "validation.tar.gz", "http://www.quest.dcs.shef.ac.uk/wmt16_files_mmt/validation.tar.gz"],
        "validation.tar.gz",
        "sha256:a7aa20e9ebd5ba5adce7909498b94410996040857154dab029851af3a866da8c",
    ),
    "test": (
        [_MULTI30K_BASE + "mmt16_task1_test.tar.gz"],
        "mmt16_task1_test.tar.gz",
        "sha256:6d1ca1dba99e2c5dd54cae1226ff11c2551e6ce63527ebb072a1f70f72a5cd36",
    ),
}
CNN_STORIES = (
    [
        "https://huggingface.co/datasets/ccdv/cnn_dailymail/resolve/main/cnn_stories.tgz",
        "https://drive.google.com/uc?export=download&id=0BwmD_VLjROrfTHk4NFg2SndKcjQ",
    ],
    "cnn_stories.tgz",
    "md5:85ac23a1926a831e8f46a6b8eaf57263",
)


def _tar_texts(path: Path, want: Any) -> dict[str, str]:
    """Members of a .tar.gz whose names `want(name)` accepts, decoded as UTF-8."""
    out: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile() and want(member.name):
                    f = tar.extractfile(member)
                    if f is not None:
                        out[member.name] = f.read().decode("utf-8")
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as e:
        raise GenzooError(f"{path} is not a readable .tar.gz of UTF-8 text ({e})") from None
    return out


@functools.lru_cache(maxsize=4)
def multi30k_pairs(split: str) -> list[tuple[str, str]]:
    urls, filename, checksum = MULTI30K[split]
    texts = _tar_texts(fetch(urls, filename, checksum, "multi30k"), lambda n: n.endswith((".en", ".de")))
    by_lang = {Path(n).suffix: t.splitlines() for n, t in texts.items()}
    if set(by_lang) != {".en", ".de"} or len(by_lang[".en"]) != len(by_lang[".de"]):
        raise GenzooError(f"{filename} does not hold parallel .en/.de files of equal length")
    return [(e.strip(), d.strip()) for e, d in zip(by_lang[".en"], by_lang[".de"], strict=True) if e.strip()]


@register_dataset("multi30k", "Multi30k English -> German captions, 29k/1k/1k pairs (download, sha256-checked)")
def multi30k(split: str = "train", **options: Any) -> PairDataset:
    if split not in MULTI30K:
        raise GenzooError(f"unknown split {split!r}; multi30k has train, val and test")
    return pair_dataset_from_splits(
        "multi30k", multi30k_pairs("train"), multi30k_pairs(split), "translation", **options
    )


def parse_story(text: str) -> tuple[str, str]:
    """A CNN/DailyMail `.story` file -> (article, summary): highlights become the summary's sentences."""
    article, *highlights = text.split("@highlight")
    sentences = []
    for h in highlights:
        line = " ".join(h.split())
        if line:
            sentences.append(line if line[-1] in ".!?" else line + ".")
    return " ".join(article.split()), " ".join(sentences)


@functools.lru_cache(maxsize=1)
def cnn_pairs() -> list[tuple[str, str, str]]:
    """(file name, article, summary) of every story with both parts."""
    texts = _tar_texts(fetch(*CNN_STORIES, "cnn_stories"), lambda n: n.endswith(".story"))
    out = []
    for name in sorted(texts):
        article, summary = parse_story(texts[name])
        if article and summary:
            out.append((Path(name).stem, article, summary))
    if not out:
        raise GenzooError(f"{CNN_STORIES[1]} holds no .story files with @highlight summaries")
    return out


def _story_split(name: str, split: str) -> bool:
    bucket = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 20
    return split == "all" or bucket in {"train": set(range(18)), "val": {18}, "test": {19}}[split]


@register_dataset("cnn_stories", "CNN stories -> highlights (CNN half of CNN/DailyMail; download, md5-checked)")
def cnn_stories(split: str = "train", **options: Any) -> PairDataset:
    if split not in ("train", "val", "test", "all"):
        raise GenzooError(f"unknown split {split!r}; choose train, val, test or all")
    stories = cnn_pairs()
    train = [(a, s) for n, a, s in stories if _story_split(n, "train")]
    chosen = [(a, s) for n, a, s in stories if _story_split(n, split)]
    options.setdefault("max_len", 512)
    return pair_dataset_from_splits("cnn_stories", train, chosen, "summarization", **options)
