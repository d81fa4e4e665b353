"""Adversarial objectives and penalties, as pure functions of discriminator outputs.

Each loss returns (discriminator loss, generator loss) terms that the models combine. Penalties take
the critic as a callable so they work for any discriminator, conditional or not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

LOSSES = ("bce", "hinge", "wasserstein")


def d_loss(kind: str, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Discriminator objective: bce (log-loss), hinge (Lim & Ye; SNGAN) or wasserstein (WGAN critic)."""
    if kind == "bce":
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
    return fake_scores.mean() - real_scores.mean()


def g_loss(kind: str, fake_scores: Tensor) -> Tensor:
    """Generator objective; for bce the non-saturating form -log D(G(z)) of Goodfellow et al."""
    if kind == "bce":
        return F.softplus(-fake_scores).mean()
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, alpha: Tensor | None = None
) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(|grad D(x_hat)| - 1)^2], x_hat = a*real + (1-a)*fake, a~U(0,1)."""
    if alpha is None:
        alpha = torch.rand(len(real), *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real data; the caller scales it by gamma/2."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).float().sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def grad_norm(params: list[torch.nn.Parameter]) -> Tensor:
    """Total L2 norm of the current gradients (logged: exploding/vanishing D or G gradients show here)."""
    grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
    return torch.stack(grads).norm() if grads else torch.zeros(())
