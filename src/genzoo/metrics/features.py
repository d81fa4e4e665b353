"""The feature network behind classifier-FID/KID/precision/recall, trained by genzoo per dataset.

Inception weights cannot be downloaded here, and Inception features of 28x28 digits are a poor fit
anyway. So, like the "FID with a domain classifier" used for MNIST in many papers, genzoo trains a small
CNN classifier on the dataset's training split once, caches it (safetensors + JSON, with its test
accuracy), and uses its penultimate 128-d layer as the feature space. Unlabelled datasets train the same
net to predict image rotations (0/90/180/270) instead of classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from genzoo.atomic import atomic_write
from genzoo.data.cache import cache_dir
from genzoo.nn.autocast import autocast_context

FEATURES = 128


class FeatureNet(nn.Module):
    """conv(32) -> conv(64, /2) -> conv(128, /2) -> conv(128) -> global pool -> 128-d features -> classes."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, FEATURES, 3, padding=1), nn.BatchNorm2d(FEATURES), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(FEATURES, num_classes)
        self.num_features = FEATURES  # read by torchmetrics for custom feature extractors

    def features(self, x: Tensor) -> Tensor:
        return self.body(x.float())

    def forward(self, x: Tensor) -> Tensor:
        """torchmetrics calls the module on images and expects (N, num_features)."""
        return self.features(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _rotations(x: Tensor) -> tuple[Tensor, Tensor]:
    k = torch.randint(0, 4, (len(x),))
    return torch.stack([torch.rot90(xi, int(ki), dims=(1, 2)) for xi, ki in zip(x, k)]), k


@torch.enable_grad()
def train_feature_net(train: Dataset, test: Dataset | None = None, epochs: int = 8,
                      seed: int = 0) -> tuple[FeatureNet, float]:
    """Train the classifier (or rotation predictor) and return it with its test accuracy."""
    images, labels = _tensors(train)
    use_labels = bool((labels >= 0).all()) and int(labels.max()) > 0
    n_classes = int(labels.max()) + 1 if use_labels else 4
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = FeatureNet(images.shape[1], n_classes)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = max(300, epochs * (len(images) // 128))  # small sets (digits: 1437 images) still get enough steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(images), (128,), generator=g)
        x = images[idx]
        # light augmentation keeps the features about content, not exact pixel positions
        shift = torch.randint(-2, 3, (2,), generator=g).tolist()
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        y = labels[idx] if use_labels else None
        if y is None:
            x, y = _rotations(x)
        with autocast_context("cpu"):
            loss = F.cross_entropy(net.logits(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    acc = float("nan")
    if test is not None:
        tx, ty = _tensors(test)
        with torch.no_grad():
            if not use_labels:
                tx, ty = _rotations(tx)
            acc = float((net.logits(tx).argmax(1) == ty).float().mean())
    return net, acc


def _tensors(data: Dataset) -> tuple[Tensor, Tensor]:
    if hasattr(data, "images"):
        return data.images.float(), data.labels
    xs, ys = zip(*[data[i] for i in range(len(data))])  # type: ignore[arg-type]
    return torch.stack(xs).float(), torch.as_tensor(ys)


def feature_net_for(name: str, train: Dataset, test: Dataset | None = None) -> FeatureNet:
    """The cached feature network of a dataset, trained on first use (keyed by name and image shape)."""
    shape = tuple(train.info.shape)  # type: ignore[attr-defined]
    key = f"{name}-{'x'.join(map(str, shape))}"
    root = cache_dir() / "features"
    weights, meta = root / f"{key}.safetensors", root / f"{key}.json"
    if weights.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        net = FeatureNet(shape[0], info["num_classes"])
        load_model(net, str(weights))
        return net.eval()
    net, acc = train_feature_net(train, test)
    atomic_write(weights, lambda p: save_model(net, p))
    atomic_write(meta, lambda p: Path(p).write_text(json.dumps(
        {"dataset": name, "shape": shape, "num_classes": net.head.out_features, "test_accuracy": acc})))
    return net


def feature_net_accuracy(name: str, shape: tuple[int, ...]) -> float | None:
    meta = cache_dir() / "features" / f"{name}-{'x'.join(map(str, shape))}.json"
    return json.loads(meta.read_text())["test_accuracy"] if meta.is_file() else None
