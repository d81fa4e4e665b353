"""Variational dequantisation (Ho et al. 2019, Flow++): the noise that makes pixels continuous is drawn
from a learned q(u | x) instead of U(0, 1).

With uniform noise a flow must spread each pixel's mass evenly over its whole bin, a box-shaped density it
can only approximate; on digits, where most pixels sit at the two ends of the range, that costs bits at
nearly every position. Training on E_q[log p(x + u) - log q(u | x)], a lower bound on log P(x) that is
never looser than the uniform one's at q's optimum, lets the flow keep a smooth density and q put the noise
where the flow already has mass. Sampling does not use q: it only changes what the flow learns.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.models.flows.layers import ImageCoupling, checkerboard

LOG_2PI = math.log(2 * math.pi)


class VariationalDequantizer(nn.Module):
    """q(u | x) on (N, C, H, W) images: u = sigmoid(f(eps; x)), eps ~ N(0, I), with f a stack of
    checkerboard affine couplings whose conditioners see a CNN's features of the discrete image x."""

    def __init__(self, shape: tuple[int, int, int], hidden: int = 16, steps: int = 4) -> None:
        super().__init__()
        c, h, w = shape
        self.features = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(),
        )
        self.couplings = nn.ModuleList(
            ImageCoupling(checkerboard(c, h, w, i % 2), hidden, context_dim=hidden) for i in range(steps)
        )

    def forward(self, x: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Noise u in (0, 1)^D for images x in [0, 1] and its log q(u | x) per example (`eps`: the base draw,
        standard normal unless given)."""
        eps = torch.randn_like(x) if eps is None else eps
        h = self.features(x - 0.5)
        log_q = (-0.5 * eps.pow(2) - 0.5 * LOG_2PI).flatten(1).sum(1)
        z = eps
        for coupling in self.couplings:
            z, ld = coupling(z, h)
            log_q = log_q - ld
        log_q = log_q - (F.logsigmoid(z) + F.logsigmoid(-z)).flatten(1).sum(1)  # u = sigmoid(z)
        return torch.sigmoid(z), log_q
