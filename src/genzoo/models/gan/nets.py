"""Generator and discriminator networks for the GAN family, for images (conv) and vectors (MLP).

Images of any size are handled like `genzoo.nn.convnets`: the generator draws on a grid padded to a
multiple of 2**upsamples and crops back; the discriminator pads its input the same way. The
discriminator is a feature extractor phi plus a linear head, so a class projection (Miyato & Koyama
2018) is one extra embedding: D(x, y) = w . phi(x) + <embed(y), phi(x)>.
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
    """z (+ class embedding) -> Linear -> (width*2^(u-1), h/2^u, w/2^u) -> u x [ConvT(4, x2), BN, ReLU]."""

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
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.fc = nn.Linear(in_dim, self.grid[0] * self.grid[1] * self.grid[2], bias=False)
        self.bn0 = nn.BatchNorm2d(self.grid[0])
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
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        h = F.relu(self.bn0(self.fc(z).view(-1, *self.grid)))
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
        self.project = _sn(nn.Embedding(num_classes, feat), spectral) if num_classes else None
        if not spectral:
            dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = F.pad(x, (0, self.pw - self.width, 0, self.ph - self.height))
        phi = self.features(x)
        out = self.head(phi).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * phi).sum(1)
        return out


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

    def __init__(self, dim: int, width: int = 128, spectral: bool = False, num_classes: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _sn(nn.Linear(dim, width), spectral),
            nn.LeakyReLU(0.2),
            _sn(nn.Linear(width, width), spectral),
            nn.LeakyReLU(0.2),
        )
        self.head = _sn(nn.Linear(width, 1), spectral)
        self.project = _sn(nn.Embedding(num_classes, width), spectral) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        phi = self.features(x)
        out = self.head(phi).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * phi).sum(1)
        return out
