"""The generator/discriminator optimizer pair every GAN here uses (TTUR through `d_ratio`), and the
generator weight average they sample from."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.optim import adam


def adam_pair(generator: nn.Module, discriminator: nn.Module, lr: float, betas: tuple[float, float],
              d_ratio: float = 1.0) -> list[torch.optim.Optimizer]:
    """[Adam for G at lr, Adam for D at lr * d_ratio], in the order `manual_step` unpacks them."""
    return [adam(generator.parameters(), lr=lr, betas=betas),
            adam(discriminator.parameters(), lr=lr * d_ratio, betas=betas)]


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, max_decay: float, t: float) -> None:
    """One step of the generator's weight average after `t` earlier steps, with warm-up: decay
    (1+t)/(10+t) up to `max_decay`, so a short run does not keep its random start.

    Buffers (batch-norm statistics) are copied from the live generator: they belong to its activations,
    and the averaged weights stay close to the live ones.
    """
    decay = min(max_decay, (1.0 + t) / (10.0 + t))
    torch._foreach_lerp_(list(ema.parameters()), list(live.parameters()), 1.0 - decay)
    for eb, mb in zip(ema.buffers(), live.buffers(), strict=True):
        eb.copy_(mb)
