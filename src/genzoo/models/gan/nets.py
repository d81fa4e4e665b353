"""Generator and discriminator networks for the GAN family, for images (conv) and vectors (MLP).

Images of any size are handled like `genzoo.nn.convnets`: the generator draws on a grid padded to a
multiple of 2**upsamples and crops back; the discriminator pads its input the same way. The
discriminator is a feature extractor phi plus a linear head, so a class projection (Miyato & Koyama
2018) is one extra embedding, D(x, y) = w . phi(x) + <embed(y), phi(x)>, and an auxiliary classifier
(AC-GAN, Odena et al. 2017) one extra linear layer on phi (`logits`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's N(0, 0.02) weights (BatchNorm scales around 1): stable early training."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConvGenerator(nn.Module):
    """z -> Linear -> (width*2^(u-1), h/2^u, w/2^u) -> BN (+ class map) -> u x [ConvT(4, x2), BN, ReLU].

    A label adds a learned (C, h, w) map after the first BatchNorm, not an embedding concatenated to z
    before it: with the concatenation, the label's share of the first layer grew during training, that
    BatchNorm then scaled z's share down with it, and the generator learned to ignore z (on mnist5k every
    sample of a class became the same digit within a few hundred batches). Normalised on its own, z keeps
    unit variance whatever the label does.
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, ...],
        width: int = 64,
        upsamples: int = 2,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.height, self.width = h, w
        m = 2**upsamples
        self.grid = (width * 2 ** (upsamples - 1), math.ceil(h / m), math.ceil(w / m))
        cells = self.grid[0] * self.grid[1] * self.grid[2]
        self.fc = nn.Linear(latent_dim, cells, bias=False)
        self.bn0 = nn.BatchNorm2d(self.grid[0])
        self.embed = nn.Embedding(num_classes, cells) if num_classes else None
        layers: list[nn.Module] = []
        ch = self.grid[0]
        for _ in range(upsamples - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1)]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.bn0(self.fc(z).view(-1, *self.grid))
        if self.embed is not None:
            h = h + self.embed(labels).view(-1, *self.grid)
        h = F.relu(h)
        return torch.sigmoid(self.net(h)[:, :, : self.height, : self.width])


class ConvDiscriminator(nn.Module):
    """x -> d x [Conv(4, /2), (BN), LeakyReLU(0.2)] -> flatten = phi(x) -> score (+ class projection)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        width: int = 64,
        downsamples: int = 2,
        norm: str = "batch",
        spectral: bool = False,
        num_classes: int = 0,
        projection: bool = True,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        c, h, w = shape
        m = 2**downsamples
        self.ph, self.pw = math.ceil(h / m) * m, math.ceil(w / m) * m
        self.height, self.width = h, w
        layers: list[nn.Module] = []
        ch_in, ch = c, width
        for i in range(downsamples):
            layers.append(_sn(nn.Conv2d(ch_in, ch, 4, 2, 1), spectral))
            if norm == "batch" and i > 0:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2))
            ch_in, ch = ch, ch * 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        feat = ch_in * (self.ph // m) * (self.pw // m)
        self.head = _sn(nn.Linear(feat, 1), spectral)
        self.project = _projection(num_classes, feat, spectral) if num_classes and projection else None
        self.classifier = nn.Linear(feat, num_classes) if num_classes and auxiliary else None
        if not spectral:
            dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.score_and_logits(x, labels)[0]

    def score_and_logits(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """The real/fake score and, with `auxiliary`, the class logits, from one pass of phi."""
        x = F.pad(x, (0, self.pw - self.width, 0, self.ph - self.height))
        return _score_and_logits(self, self.features(x), labels)


class MLPGenerator(nn.Module):
    """z (+ class embedding) -> 2 hidden ReLU layers -> a point in R^D (vector data, e.g. 2-D toys)."""

    def __init__(self, latent_dim: int, dim: int, width: int = 128, num_classes: int = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.net = nn.Sequential(
            nn.Linear(in_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, dim)
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x -> 2 hidden LeakyReLU layers = phi(x) -> score (+ class projection)."""

    def __init__(
        self,
        dim: int,
        width: int = 128,
        spectral: bool = False,
        num_classes: int = 0,
        projection: bool = True,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _sn(nn.Linear(dim, width), spectral),
            nn.LeakyReLU(0.2),
            _sn(nn.Linear(width, width), spectral),
            nn.LeakyReLU(0.2),
        )
        self.head = _sn(nn.Linear(width, 1), spectral)
        self.project = _projection(num_classes, width, spectral) if num_classes and projection else None
        self.classifier = nn.Linear(width, num_classes) if num_classes and auxiliary else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.score_and_logits(x, labels)[0]

    def score_and_logits(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return _score_and_logits(self, self.features(x), labels)


def _projection(num_classes: int, features: int, spectral: bool) -> nn.Module:
    """The class embedding of a projection discriminator. Without spectral norm it starts at the scale of
    the N(0, 0.02) head: nn.Embedding's default N(0, 1) made the class term ~50x the real/fake term."""
    embed = nn.Embedding(num_classes, features)
    if not spectral:
        nn.init.normal_(embed.weight, 0.0, 0.02)
    return _sn(embed, spectral)


def _score_and_logits(d: nn.Module, phi: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
    out = d.head(phi).squeeze(1)
    if d.project is not None:
        out = out + (d.project(labels) * phi).sum(1)
    return out, (d.classifier(phi) if d.classifier is not None else None)
