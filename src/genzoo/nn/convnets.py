"""Small convolutional encoders/decoders for images of any size (padded to a multiple of 2**downsamples).

Shared by the VAE family (and anything else that needs an image <-> vector map): the encoder ends in a
flat feature vector, the decoder starts from one, and both remember the padding so shapes round-trip.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def padded_size(size: int, downsamples: int) -> int:
    m = 2**downsamples
    return int(math.ceil(size / m) * m)


class ConvEncoder(nn.Module):
    """(C, H, W) -> features: a 3x3 stem, then `downsamples` stride-2 stages doubling width up to 4x."""

    def __init__(self, channels: int, height: int, width: int, hidden: int = 32, downsamples: int = 2,
                 extra_channels: int = 0) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.ph, self.pw = padded_size(height, downsamples), padded_size(width, downsamples)
        layers: list[nn.Module] = [nn.Conv2d(channels + extra_channels, hidden, 3, padding=1), nn.SiLU()]
        ch = hidden
        for i in range(downsamples):
            out = hidden * min(2 ** (i + 1), 4)
            layers += [nn.Conv2d(ch, out, 4, stride=2, padding=1), nn.SiLU()]
            ch = out
        self.net = nn.Sequential(*layers)
        self.out_channels = ch
        self.grid = (self.ph // 2**downsamples, self.pw // 2**downsamples)
        self.out_features = ch * self.grid[0] * self.grid[1]

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        if extra is not None:  # class maps etc., broadcast over the image
            x = torch.cat([x, extra[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
        x = F.pad(x, (0, self.pw - self.width, 0, self.ph - self.height))
        return self.net(x).flatten(1)


class ConvDecoder(nn.Module):
    """features -> (out_channels, H, W): the mirror of ConvEncoder, cropped back to the true size."""

    def __init__(self, in_features: int, out_channels: int, height: int, width: int, hidden: int = 32,
                 downsamples: int = 2) -> None:
        super().__init__()
        self.height, self.width = height, width
        ph, pw = padded_size(height, downsamples), padded_size(width, downsamples)
        ch = hidden * min(2**downsamples, 4)
        self.grid = (ch, ph // 2**downsamples, pw // 2**downsamples)
        self.fc = nn.Linear(in_features, ch * self.grid[1] * self.grid[2])
        layers: list[nn.Module] = [nn.SiLU()]
        for i in reversed(range(downsamples)):
            out = hidden * min(2**i, 4)
            layers += [nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1), nn.SiLU()]
            ch = out
        layers.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(-1, *self.grid)
        return self.net(h)[:, :, : self.height, : self.width]
