"""Caption consistency: a reading classifier that says which scene a digit canvas shows.

`CaptionReader` reads a canvas the way the captions describe it, in three trained parts:
- layout (single / row / column) from the canvas at 16x16 and its ink profiles (a small MLP);
- for each slot of that layout (whole canvas; left / right half; top / bottom half) the ink's bounding
  box is cut out, squared and resized to 16x16 — a size-normalised digit, like MNIST's own preprocessing —
  and a small CNN names the digit;
- the size (large / small) from the box's height and width and the layout (a small MLP).
All three are trained on real `captioned_digits` canvases of every attribute combination (mnist5k's train
digits). `caption_match(reader, images, scenes)` is the share of images whose every attribute is read as
the caption says; `scene_log_prob` scores candidates for reranking. The trained reader is cached per canvas
size in `$GENZOO_CACHE/features` (safetensors + JSON with its agreement on test-digit canvases), like the
classifier-FID feature nets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.atomic import atomic_write
from genzoo.data.cache import cache_dir
from genzoo.data.captions import LAYOUTS, Scene

CROP = 16
INK = 0.35  # grey level above which a pixel counts as ink when finding a digit's bounding box


def slot_regions(layout: str, size: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of each slot of `layout` on a `size` canvas."""
    h = size // 2
    return {"single": [(0, size, 0, size)], "row": [(0, size, 0, h), (0, size, h, size)],
            "column": [(0, h, 0, size), (h, size, 0, size)]}[layout]


def cut_slot(image: Tensor, region: tuple[int, int, int, int]) -> tuple[Tensor, Tensor]:
    """The ink of one slot as a (1, CROP, CROP) square digit, and its box (height, width) / canvas side."""
    t, b, lft, r = region
    sub = image[0, t:b, lft:r]
    rows = torch.nonzero(sub.amax(1) > INK).flatten()
    cols = torch.nonzero(sub.amax(0) > INK).flatten()
    if len(rows) == 0 or len(cols) == 0:
        return torch.zeros(1, CROP, CROP), torch.zeros(2)
    crop = sub[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1]
    h, w = crop.shape
    side = max(h, w) + 2
    sq = torch.zeros(side, side)
    sq[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = crop
    digit = F.interpolate(sq[None, None], size=(CROP, CROP), mode="bilinear", antialias=True, align_corners=False)
    return digit[0].clamp(0, 1), torch.tensor([h, w], dtype=torch.float32) / image.shape[-1]


def cut_slots(images: Tensor, layouts: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every slot of every image: crops (M, 1, CROP, CROP), size features (M, 5), image index (M,), slot (M,)."""
    crops, feats, owner, slot = [], [], [], []
    size = images.shape[-1]
    for i, (img, layout) in enumerate(zip(images.float().cpu(), layouts, strict=True)):
        onehot = F.one_hot(torch.tensor(LAYOUTS.index(layout)), len(LAYOUTS)).float()
        for k, region in enumerate(slot_regions(layout, size)):
            c, hw = cut_slot(img, region)
            crops.append(c)
            feats.append(torch.cat([hw * 4, onehot]))
            owner.append(i)
            slot.append(k)
    return torch.stack(crops), torch.stack(feats), torch.tensor(owner), torch.tensor(slot)


class LayoutFeatures(nn.Module):
    """The canvas at 16x16 plus its row and column ink profiles at 32 bins: the gap between two stacked
    digits shows as a dip in the row profile even where the pooled image blurs it away."""

    dim = 16 * 16 + 2 * 32

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        rows = F.adaptive_avg_pool2d(x, (32, 1)).flatten(1)
        cols = F.adaptive_avg_pool2d(x, (1, 32)).flatten(1)
        return torch.cat([F.adaptive_avg_pool2d(x, 16).flatten(1), 4 * rows, 4 * cols], 1)


class CaptionReader(nn.Module):
    """Layout MLP on the 16x16 canvas, digit CNN on 16x16 size-normalised slot crops, size MLP on box shape."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width

        def conv(a: int, b: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.BatchNorm2d(b), nn.ReLU()]

        self.layout = nn.Sequential(LayoutFeatures(), nn.Linear(LayoutFeatures.dim, 128), nn.ReLU(),
                                    nn.Linear(128, len(LAYOUTS)))
        self.digit = nn.Sequential(*conv(1, w), *conv(w, 2 * w, 2), *conv(2 * w, 2 * w), *conv(2 * w, 4 * w, 2),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * w, 10))
        self.size = nn.Sequential(nn.Linear(2 + len(LAYOUTS), 32), nn.ReLU(), nn.Linear(32, 2))


def scene_targets(scenes: list[Scene]) -> tuple[Tensor, Tensor, Tensor]:
    """Layout index per scene, and digit and size per slot (in `cut_slots` order)."""
    layout = torch.tensor([LAYOUTS.index(s.layout) for s in scenes])
    digits = torch.tensor([d for s in scenes for d in s.digits])
    sizes = torch.tensor([z for s in scenes for z in s.sizes])
    return layout, digits, sizes


@torch.no_grad()
def read_scenes(reader: CaptionReader, images: Tensor) -> list[Scene]:
    """The scene the reader sees in each image."""
    reader.eval()
    images = images.float().cpu()
    layouts = [LAYOUTS[i] for i in reader.layout(images).argmax(1).tolist()]
    crops, feats, owner, _ = cut_slots(images, layouts)
    digits = reader.digit(crops).argmax(1).tolist()
    sizes = reader.size(feats).argmax(1).tolist()
    per: list[tuple[list[int], list[int]]] = [([], []) for _ in images]
    for o, d, s in zip(owner.tolist(), digits, sizes, strict=True):
        per[o][0].append(d)
        per[o][1].append(s)
    return [Scene(lay, tuple(d), tuple(s)) for lay, (d, s) in zip(layouts, per, strict=True)]


@torch.no_grad()
def scene_log_prob(reader: CaptionReader, images: Tensor, scenes: list[Scene]) -> Tensor:
    """log p(every attribute of `scenes[i]` | images[i]) under the reader, (N,): a reranking score."""
    reader.eval()
    images = images.float().cpu()
    layout, digits, sizes = scene_targets(scenes)
    total = torch.log_softmax(reader.layout(images), 1).gather(1, layout[:, None]).squeeze(1)
    crops, feats, owner, _ = cut_slots(images, [s.layout for s in scenes])
    lp = torch.log_softmax(reader.digit(crops), 1).gather(1, digits[:, None]).squeeze(1)
    lp = lp + torch.log_softmax(reader.size(feats), 1).gather(1, sizes[:, None]).squeeze(1)
    return total.index_add(0, owner, lp)


def caption_match(reader: CaptionReader, images: Tensor, scenes: list[Scene]) -> float:
    """Share of images whose layout, digits and sizes are all read as their scene says."""
    read = read_scenes(reader, images)
    return float(np.mean([a == b for a, b in zip(read, scenes, strict=True)]))


@torch.enable_grad()
def train_reader(size: int = 32, steps: int = 1000, n: int = 5000, batch: int = 128, seed: int = 0,
                 width: int = 16, lr: float = 5e-3) -> tuple[CaptionReader, float]:
    """Train on `n` real canvases (every combination, train digits); return it and its test agreement."""
    from genzoo.data.captions import captioned_digits

    train = captioned_digits("train", n=n, size=size, combos="all", seed=100 + seed)
    test = captioned_digits("test", n=1000, size=size, combos="all", seed=101 + seed)
    layout, digits, sizes = scene_targets(train.scenes)
    crops, feats, _, _ = cut_slots(train.images, [s.layout for s in train.scenes])
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    reader = CaptionReader(width)
    opt = torch.optim.AdamW(reader.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    reader.train()
    for _ in range(steps):
        i = torch.randint(0, len(train), (batch,), generator=g)
        j = torch.randint(0, len(crops), (batch,), generator=g)
        x = crops[j] + 0.05 * torch.randn(crops[j].shape, generator=g)  # generated digits are never clean
        shift = torch.randint(-1, 2, (2,), generator=g).tolist()
        loss = (F.cross_entropy(reader.layout(train.images[i]), layout[i])
                + F.cross_entropy(reader.digit(torch.roll(x, shift, dims=(2, 3))), digits[j])
                + F.cross_entropy(reader.size(feats[j]), sizes[j]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    reader.eval()
    return reader, caption_match(reader, test.images, test.scenes)


def reader_for(size: int = 32) -> CaptionReader:
    """The cached reader trained on `size`-px canvases (trained on first use).

    It reads canvases of any size: the layout net pools to 16x16, digits are size-normalised crops and the
    size net sees box sizes relative to the canvas.
    """
    root = cache_dir() / "features"
    weights, meta = root / f"caption-reader-{size}.safetensors", root / f"caption-reader-{size}.json"
    if weights.is_file() and meta.is_file():
        reader = CaptionReader()
        load_model(reader, str(weights))
        return reader.eval()
    reader, agreement = train_reader(size)
    atomic_write(weights, lambda p: save_model(reader, p))
    atomic_write(meta, lambda p: Path(p).write_text(json.dumps({"size": size, "test_agreement": agreement})))
    return reader


def reader_agreement(size: int = 32) -> float | None:
    """The cached reader's agreement with the caption generator on real canvases of test digits."""
    meta = cache_dir() / "features" / f"caption-reader-{size}.json"
    return json.loads(meta.read_text())["test_agreement"] if meta.is_file() else None


class ReaderFeatures(nn.Module):
    """The reader as a feature extractor for classifier-FID on canvases: layout features + both slots' digit
    features (zeros for an empty slot), 128 + 2 x 4w dimensions. torchmetrics calls it on image batches."""

    def __init__(self, reader: CaptionReader) -> None:
        super().__init__()
        self.reader = reader.eval()
        self.digit_dim = reader.digit[-1].in_features
        self.num_features = reader.layout[-1].in_features + 2 * self.digit_dim

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = x.float().cpu()
        if x.max() > 1.5:  # torchmetrics may hand over uint8-range images
            x = x / 255.0
        lay = self.reader.layout
        hidden = lay[:-1](x)
        layouts = [LAYOUTS[i] for i in lay[-1](hidden).argmax(1).tolist()]
        crops, _, owner, slot = cut_slots(x, layouts)
        feats = self.reader.digit[:-1](crops)
        out = torch.zeros(len(x), 2, self.digit_dim)
        out[owner, slot] = feats
        return torch.cat([hidden, out.flatten(1)], 1).double()


def reader_fid(reader: CaptionReader, real: Tensor, fake: Tensor) -> float:
    """Fréchet distance between real and generated canvases on the reader's features (torchmetrics' FID)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=ReaderFeatures(reader), reset_real_features=True)
    fid.update(real.float().clamp(0, 1), real=True)
    fid.update(fake.float().clamp(0, 1), real=False)
    return float(fid.compute())
