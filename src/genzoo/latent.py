"""Latent-space helpers for any model with encode/decode."""

from __future__ import annotations

import torch
from torch import Tensor


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b (falls back to linear when they are parallel)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.arccos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    lin = (1 - t) * a + t * b
    sph = torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b
    return torch.where(so.abs() < 1e-6, lin, sph)


@torch.no_grad()
def interpolate(model: torch.nn.Module, x_a: Tensor, x_b: Tensor, steps: int = 8, spherical: bool = False) -> Tensor:
    """Decode `steps` points on the path between the encodings of x_a and x_b (single images, (C, H, W))."""
    za, zb = model.encode(torch.stack([x_a, x_b])).float().chunk(2)
    t = torch.linspace(0, 1, steps, device=za.device).unsqueeze(1)
    z = slerp(za.expand(steps, -1), zb.expand(steps, -1), t) if spherical else (1 - t) * za + t * zb
    return model.decode(z)
