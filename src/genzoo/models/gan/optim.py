"""The generator/discriminator optimizer pair every GAN here uses (TTUR through `d_ratio`)."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.optim import adam


def adam_pair(generator: nn.Module, discriminator: nn.Module, lr: float, betas: tuple[float, float],
              d_ratio: float = 1.0) -> list[torch.optim.Optimizer]:
    """[Adam for G at lr, Adam for D at lr * d_ratio], in the order `manual_step` unpacks them."""
    return [adam(generator.parameters(), lr=lr, betas=betas),
            adam(discriminator.parameters(), lr=lr * d_ratio, betas=betas)]
