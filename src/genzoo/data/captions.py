"""Captioned images: composed digit canvases that ship offline, any folder of image + .txt pairs, Flickr8k.

`captioned_digits` composes real mnist5k digits on a blank canvas and writes the caption from the layout,
so every caption is checkably true of its image (the reading classifier in
`genzoo.metrics.caption_match` reads it back). A scene is one digit, two side by side, or two stacked:

    "a large 3"                        "a small 5 above a large 2"
    "a large 3 to the left of a small 7"  "a small 7 to the right of a large 3"   (same scene, other order)
    "two small 4s side by side"        "two large 8s on top of each other"

Vocabulary (`WORDS`): a two large small 0-9 s to the left right of above below side by on top each other,
plus <pad>, <unk> and <null> (the empty caption classifier-free guidance trains on).

Held-out combinations: every slot of a scene is a (digit, size, position) triple with position in
center/left/right/top/bottom. Ten triples (`HELD_OUT`: one per size-position pair, each digit exactly once)
never occur in `combos="seen"` data, yet each of their digits, sizes and positions does, in other
combinations; `combos="held_out"` gives only scenes that contain one, to measure generalisation.

Everything is deterministic in (split, n, seed): train canvases use mnist5k's train digits, test canvases
its test digits.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

PAD, UNK, NULL = 0, 1, 2
SPECIAL_WORDS = ("<pad>", "<unk>", "<null>")
WORDS = (*SPECIAL_WORDS, "a", "two", "large", "small", *[str(d) for d in range(10)], "s", "to", "the", "left",
         "right", "of", "above", "below", "side", "by", "on", "top", "each", "other")
LAYOUTS = ("single", "row", "column")
SIZES = ("large", "small")
POSITIONS = ("center", "left", "right", "top", "bottom")
#: slot positions of each layout: slot 0 is the only / left / top digit, slot 1 the right / bottom one
SLOT_POSITIONS = {"single": ("center",), "row": ("left", "right"), "column": ("top", "bottom")}
HELD_OUT = frozenset(
    (d, s, p) for p in range(len(POSITIONS)) for s in range(len(SIZES)) for d in range(10)
    if (d + 3 * p + 5 * s) % 10 == 0
)
_SPLIT = re.compile(r"[a-z]+|\d|<[a-z]+>")


class CaptionTokenizer:
    """Word-level tokenizer over a fixed vocabulary; unknown words become <unk> (with a warning).

    Digits are words of their own and a trailing plural "s" is split off ("5s" -> "5", "s"), so the
    digit vocabulary is shared between "a 5" and "two 5s". It travels in config.json as `to_json()`.
    """

    def __init__(self, words: tuple[str, ...] | list[str] = WORDS, length: int = 12) -> None:
        if tuple(words[: len(SPECIAL_WORDS)]) != SPECIAL_WORDS:
            raise GenzooError(f"a caption vocabulary must start with {SPECIAL_WORDS}")
        self.words = tuple(words)
        self.length = length
        self.index = {w: i for i, w in enumerate(self.words)}

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def split(self, text: str) -> list[str]:
        return _SPLIT.findall(text.lower())

    def encode(self, text: str, warn: bool = True) -> list[int]:
        """Caption -> `length` ids (padded with <pad>); unknown words -> <unk>, over-long captions cut."""
        if not isinstance(text, str) or not text.strip():
            raise GenzooError("the caption is empty: describe the image, e.g. 'a large 3 to the left of a small 7'")
        words = self.split(text)
        if not words:
            raise GenzooError(f"the caption {text!r} holds no words")
        unknown = sorted({w for w in words if w not in self.index})
        if unknown and warn:
            warnings.warn(f"unknown words {unknown} are read as <unk>; known words: "
                          f"{' '.join(self.words[len(SPECIAL_WORDS):])}", stacklevel=2)
        if len(words) > self.length and warn:
            warnings.warn(f"caption has {len(words)} words; only the first {self.length} are used", stacklevel=2)
        ids = [self.index.get(w, UNK) for w in words[: self.length]]
        return ids + [PAD] * (self.length - len(ids))

    def batch(self, texts: list[str], warn: bool = True) -> Tensor:
        return torch.tensor([self.encode(t, warn) for t in texts], dtype=torch.long)

    def null(self, n: int) -> Tensor:
        """The empty caption (<null> then padding): the unconditional branch of classifier-free guidance."""
        ids = torch.full((n, self.length), PAD, dtype=torch.long)
        ids[:, 0] = NULL
        return ids

    def decode(self, ids: Any) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return " ".join(self.words[i] for i in ids if i >= len(SPECIAL_WORDS)).replace(" s ", "s ")

    def to_json(self) -> str:
        return json.dumps({"words": list(self.words), "length": self.length})

    @classmethod
    def from_json(cls, text: str) -> CaptionTokenizer:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(tuple(data["words"]), int(data["length"]))
        except (ValueError, KeyError, TypeError) as e:
            raise GenzooError(f"the saved caption tokenizer is corrupt ({e})") from None


# -- scenes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    """What a canvas shows: a layout and, per slot, a digit and a size index (0 large, 1 small)."""

    layout: str
    digits: tuple[int, ...]
    sizes: tuple[int, ...]

    def triples(self) -> list[tuple[int, int, int]]:
        return [(d, s, POSITIONS.index(p)) for d, s, p in zip(self.digits, self.sizes, SLOT_POSITIONS[self.layout])]

    @property
    def held_out(self) -> bool:
        return any(t in HELD_OUT for t in self.triples())

    def caption(self, variant: int = 0) -> str:
        """The scene in words; `variant` 1 names the second slot first ("... to the right of ...")."""
        d, s = self.digits, [SIZES[i] for i in self.sizes]
        if self.layout == "single":
            return f"a {s[0]} {d[0]}"
        if d[0] == d[1] and s[0] == s[1] and variant == 2:
            where = "side by side" if self.layout == "row" else "on top of each other"
            return f"two {s[0]} {d[0]}s {where}"
        rel = ("to the left of", "to the right of") if self.layout == "row" else ("above", "below")
        if variant == 1:
            return f"a {s[1]} {d[1]} {rel[1]} a {s[0]} {d[0]}"
        return f"a {s[0]} {d[0]} {rel[0]} a {s[1]} {d[1]}"


_SIZE = "(large|small)"
_PATTERNS = (
    (re.compile(rf"^a {_SIZE} (\d)$"), "single"),
    (re.compile(rf"^a {_SIZE} (\d) (to the left of|to the right of|above|below) a {_SIZE} (\d)$"), "pair"),
    (re.compile(rf"^two {_SIZE} (\d) ?s (side by side|on top of each other)$"), "two"),
)


def parse_caption(text: str) -> Scene | None:
    """The scene a caption of this grammar describes (the inverse of `Scene.caption`); None if it is not one."""
    words = " ".join(_SPLIT.findall(text.lower()))
    for pattern, kind in _PATTERNS:
        m = pattern.match(words)
        if m is None:
            continue
        g = m.groups()
        if kind == "single":
            return Scene("single", (int(g[1]),), (SIZES.index(g[0]),))
        if kind == "two":
            layout = "row" if g[2] == "side by side" else "column"
            return Scene(layout, (int(g[1]),) * 2, (SIZES.index(g[0]),) * 2)
        first, second = (int(g[1]), SIZES.index(g[0])), (int(g[4]), SIZES.index(g[3]))
        layout = "row" if "of" in g[2] else "column"
        if g[2] in ("to the right of", "below"):
            first, second = second, first
        return Scene(layout, (first[0], second[0]), (first[1], second[1]))
    return None


def random_scene(rng: np.random.Generator, layouts: tuple[str, ...], combos: str) -> Scene:
    """A scene drawn uniformly within `layouts`, rejected until it fits `combos` (seen / held_out / all)."""
    while True:
        layout = layouts[int(rng.integers(len(layouts)))]
        k = 1 if layout == "single" else 2
        digits, sizes = rng.integers(0, 10, k), rng.integers(0, 2, k)
        scene = Scene(layout, tuple(int(v) for v in digits), tuple(int(v) for v in sizes))
        if combos == "all" or (combos == "held_out") == scene.held_out:
            return scene


def boxes(scene: Scene, size: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(top, left, side) of each slot's square box on a `size` canvas, with a little positional jitter."""
    out = []
    if scene.layout == "single":
        side = round(size * (0.8 if scene.sizes[0] == 0 else 0.45))
        jit = max(1, size // 16)
        c = (size - side) // 2
        return [(c + int(rng.integers(-jit, jit + 1)), c + int(rng.integers(-jit, jit + 1)), side)]
    half = size // 2
    for slot, s in enumerate(scene.sizes):
        side = half if s == 0 else round(size * 0.375)
        along = slot * half + (half - side) // 2 + int(rng.integers(-1, 2) if side < half else 0)
        across = (size - side) // 2 + int(rng.integers(-2, 3))
        along, across = min(max(along, 0), size - side), min(max(across, 0), size - side)
        out.append((across, along, side) if scene.layout == "row" else (along, across, side))
    return out


def tight_digits(images: Tensor) -> Tensor:
    """MNIST digits cropped to their ink's bounding box and re-centred on a square, (N, 1, 28, 28) -> same.

    MNIST centres a 20x20 digit in 28x28; cropping first lets a "large" digit fill its box on a small canvas.
    """
    out = torch.zeros_like(images)
    for i, im in enumerate(images[:, 0]):
        rows = torch.nonzero(im.amax(1) > 0.1).flatten()
        cols = torch.nonzero(im.amax(0) > 0.1).flatten()
        if len(rows) == 0:
            continue
        crop = im[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1]
        h, w = crop.shape
        side = max(h, w)
        sq = torch.zeros(side, side)
        sq[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = crop
        out[i, 0] = F.interpolate(sq[None, None], size=(28, 28), mode="bilinear", antialias=True,
                                  align_corners=False)[0, 0]
    return out


def render(scenes: list[Scene], digits: Tensor, labels: Tensor, size: int, rng: np.random.Generator) -> Tensor:
    """Canvases (N, 1, size, size) in [0, 1]: each slot gets a random real digit of its class, resized."""
    by_class = [torch.nonzero(labels == c).flatten() for c in range(10)]
    canvases = torch.zeros(len(scenes), 1, size, size)
    resized: dict[int, Tensor] = {}
    for i, scene in enumerate(scenes):
        for d, (top, left, side) in zip(scene.digits, boxes(scene, size, rng)):
            if side not in resized:
                resized[side] = F.interpolate(digits, size=(side, side), mode="bilinear", antialias=True,
                                              align_corners=False).clamp(0, 1)
            pick = by_class[d][int(rng.integers(len(by_class[d])))]
            region = canvases[i, :, top : top + side, left : left + side]
            torch.maximum(region, resized[side][pick], out=region)
    return canvases


class CaptionedImages(Dataset):
    """Images (N, C, H, W) in [0, 1] with captions; items are (image, caption ids (L,)).

    `captions` holds the text, `tokenizer` the CaptionTokenizer; for composed canvases `scenes` holds the
    ground truth and `labels` the first slot's digit (what genzoo's classifier-FID feature net learns).
    """

    def __init__(self, images: Tensor, captions: list[str], tokenizer: CaptionTokenizer, info: DataInfo,
                 scenes: list[Scene] | None = None, labels: Tensor | None = None) -> None:
        self.images = images.float().contiguous()
        self.captions = list(captions)
        self.tokenizer = tokenizer
        with warnings.catch_warnings():  # a folder's own captions define its vocabulary; nothing is unknown
            warnings.simplefilter("ignore")
            self.tokens = tokenizer.batch(self.captions, warn=False)
        self.info = info
        self.scenes = scenes
        self.labels = labels if labels is not None else torch.full((len(images),), -1, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.tokens[i]


def _caption_info(name: str, shape: tuple[int, ...], tokenizer: CaptionTokenizer, **extra: Any) -> DataInfo:
    return DataInfo(name, "image", shape, None, (0.0, 1.0),
                    {"captioned": True, "tokenizer": tokenizer.to_json(), "text_length": tokenizer.length,
                     "text_vocab": tokenizer.vocab_size, **extra})


@functools.lru_cache(maxsize=2)
def _digit_bank(split: str) -> tuple[Tensor, Tensor]:
    """mnist5k's train or test digits, tightly cropped (computed once per process: it takes seconds)."""
    from genzoo.data.images import mnist5k

    digits = mnist5k(split)
    return tight_digits(digits.images), digits.labels


@register_dataset("captioned_digits", "mnist5k digits composed on canvases with layout captions (offline)")
def captioned_digits(split: str = "train", n: int | None = None, size: int = 32, seed: int | None = None,
                     layouts: tuple[str, ...] | list[str] | str = LAYOUTS, combos: str = "seen",
                     **_: Any) -> CaptionedImages:
    """`n` canvases of `size` px; `layouts` (single, row, column) and `combos` (seen, held_out, all) select."""
    layouts = tuple(layouts.split(",")) if isinstance(layouts, str) else tuple(layouts)
    bad = [lay for lay in layouts if lay not in LAYOUTS]
    if bad or not layouts:
        raise GenzooError(f"unknown layouts {bad}; choose from {', '.join(LAYOUTS)}")
    if combos not in ("seen", "held_out", "all"):
        raise GenzooError(f"combos must be seen, held_out or all, got {combos!r}")
    if size < 16:
        raise GenzooError(f"canvas size must be at least 16 px, got {size}")
    n = n or (10000 if split == "train" else 1000)
    digits, labels = _digit_bank("test" if split in ("test", "val") else "train")
    rng = np.random.default_rng(seed if seed is not None else (0 if split == "train" else 1))
    scenes = [random_scene(rng, layouts, combos) for _ in range(n)]
    captions = [sc.caption(int(rng.integers(3))) for sc in scenes]
    images = render(scenes, digits, labels, size, rng)
    tok = CaptionTokenizer()
    info = _caption_info("captioned_digits", (1, size, size), tok, layouts=list(layouts), combos=combos)
    return CaptionedImages(images, captions, tok, info, scenes, torch.tensor([s.digits[0] for s in scenes]))


# -- a user's own captioned folder ----------------------------------------------------------------------
def build_vocabulary(captions: list[str], max_words: int = 5000) -> CaptionTokenizer:
    """A tokenizer over the most frequent words of `captions`; length covers 95% of them (at least 8)."""
    from collections import Counter

    tok = CaptionTokenizer()
    counts = Counter(w for c in captions for w in tok.split(c))
    words = [w for w, _ in counts.most_common(max_words) if w not in SPECIAL_WORDS]
    lengths = sorted(len(tok.split(c)) for c in captions) or [8]
    return CaptionTokenizer((*SPECIAL_WORDS, *sorted(words)), max(8, lengths[int(0.95 * (len(lengths) - 1))]))


def _resize_square(arr: np.ndarray, size: int, channels: int) -> Tensor:
    """(H, W, C) -> (C, size, size): centre-crop to a square, then resize (antialiased)."""
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float()
    if t.shape[0] != channels:
        t = t.mean(0, keepdim=True) if channels == 1 else t.expand(channels, -1, -1)
    h, w = t.shape[1:]
    s = min(h, w)
    t = t[:, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    out = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp(0, 1)


def _split_pairs(n: int, split: str, test_fraction: float = 0.2) -> np.ndarray:
    idx = np.random.default_rng(0).permutation(n)
    k = int(round(test_fraction * n)) if n >= 5 else 0
    if split == "all":
        return np.sort(idx)
    return np.sort(idx[:k] if split in ("test", "val") else idx[k:])


@register_dataset("captioned_folder", "any folder of image + same-name .txt caption pairs (path=DIR)")
def captioned_folder(split: str = "train", path: str = "", size: int = 32, channels: int = 1,
                     **_: Any) -> CaptionedImages:
    """Each image `x.png` (jpg, ...) with a caption in `x.txt`; 20% of pairs (fixed seed) are the test split."""
    from genzoo.data.files import IMAGE_SUFFIXES, read_image

    root = Path(path)
    if not path or not root.is_dir():
        raise GenzooError(f"captioned_folder needs path=DIR, a folder of image + .txt pairs; got {path!r}")
    images = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    pairs = [(f, f.with_suffix(".txt")) for f in images if f.with_suffix(".txt").is_file()]
    if not pairs:
        raise GenzooError(f"no image with a same-name .txt caption in {root}")
    texts = [t.read_text(encoding="utf-8", errors="replace").strip() for _, t in pairs]
    captions = [text.splitlines()[0].strip() if text else "" for text in texts]
    empty = [p.name for (p, _), c in zip(pairs, captions) if not c]
    if empty:
        raise GenzooError(f"caption file of {empty[0]} is empty")
    tok = build_vocabulary(captions)  # from every pair, so train and test share one vocabulary
    keep = _split_pairs(len(pairs), split)
    tensor = torch.stack([_resize_square(read_image(pairs[i][0]), size, channels) for i in keep])
    info = _caption_info(root.name, tuple(tensor.shape[1:]), tok)
    return CaptionedImages(tensor, [captions[i] for i in keep], tok, info)


# -- Flickr8k (download) ------------------------------------------------------------------------------------
_FLICKR_BASE = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
_FLICKR_FILES = {  # md5s as published by mlverse/torchvision's flickr8k_caption_dataset
    "Flickr8k_text.zip": "md5:bf6c1abcb8e4a833b7f922104de18627",
    "Flickr8k_Dataset.zip": "md5:f18a1e2920de5bd84dae7cf08ec78978",
}


def read_flickr8k(text_zip: Path, images_zip: Path, split: str, n: int | None, size: int,
                  channels: int) -> tuple[Tensor, list[str], list[str]]:
    """Parse Flickr8k's two archives: token file "name.jpg#k<TAB>caption", split lists, Flicker8k_Dataset/*.jpg.

    Returns images (N, C, size, size), the first caption of each image, and every training caption (for
    the vocabulary, so train and test share it).
    """
    from io import BytesIO

    from PIL import Image

    try:
        with zipfile.ZipFile(text_zip) as z:
            names = {Path(m).name: m for m in z.namelist()}
            token = z.read(names["Flickr8k.token.txt"]).decode("utf-8", errors="replace")
            train = z.read(names["Flickr_8k.trainImages.txt"]).decode().split()
            test = z.read(names["Flickr_8k.testImages.txt"]).decode().split()
    except (zipfile.BadZipFile, KeyError) as e:
        raise GenzooError(f"{text_zip} is not Flickr8k's text archive ({e})") from None
    captions: dict[str, list[str]] = {}
    for line in token.splitlines():
        if "\t" in line:
            key, caption = line.split("\t", 1)
            captions.setdefault(key.split("#")[0].strip(), []).append(caption.strip())
    files = test if split in ("test", "val") else (train + test if split == "all" else train)
    files = [f for f in files if f in captions][: n or None]
    vocab_source = [c for f in train if f in captions for c in captions[f]]
    out = []
    try:
        with zipfile.ZipFile(images_zip) as z:
            members = {Path(m).name: m for m in z.namelist() if m.lower().endswith(".jpg")}
            for f in files:
                if f not in members:
                    raise GenzooError(f"{images_zip} lacks image {f}")
                with Image.open(BytesIO(z.read(members[f]))) as im:
                    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
                out.append(_resize_square(arr, size, channels))
    except zipfile.BadZipFile as e:
        raise GenzooError(f"{images_zip} is not Flickr8k's image archive ({e})") from None
    return torch.stack(out), [captions[f][0] for f in files], vocab_source


@register_dataset("flickr8k", "Flickr8k: 8k photos x 5 captions, the first of each (download ~1 GB, md5-checked)")
def flickr8k(split: str = "train", n: int | None = None, size: int = 64, channels: int = 3,
             **_: Any) -> CaptionedImages:
    """Real captioned photos for users with internet; `n` limits how many images are decoded."""
    from genzoo.data.cache import fetch

    paths = {f: fetch([_FLICKR_BASE + f], f, md5, "flickr8k") for f, md5 in _FLICKR_FILES.items()}
    images, captions, vocab_source = read_flickr8k(paths["Flickr8k_text.zip"], paths["Flickr8k_Dataset.zip"],
                                                   split, n, size, channels)
    tok = build_vocabulary(vocab_source)
    return CaptionedImages(images, captions, tok, _caption_info("flickr8k", tuple(images.shape[1:]), tok))
