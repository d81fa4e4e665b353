"""Latent-space helpers for any `LatentModel` (flat continuous latents: VAE, flows, VQ-VAE, SSVAE)."""

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


def encode_vectors(model: torch.nn.Module, x: Tensor, batch: int = 256) -> Tensor:
    """Flat continuous latents (N, D) of a `LatentModel`, in batches."""
    with torch.no_grad():
        return torch.cat([model.encode_latent(x[i : i + batch]).float().flatten(1)
                          for i in range(0, len(x), batch)]).cpu()


def decode_vectors(model: torch.nn.Module, z: Tensor) -> Tensor:
    """Images from flat latents made by `encode_vectors`."""
    with torch.no_grad():
        return model.decode_latent(z).float().cpu()


def interpolate(model: torch.nn.Module, x_a: Tensor, x_b: Tensor, steps: int = 8, spherical: bool = False) -> Tensor:
    """Decode `steps` points on the path between the latents of x_a and x_b (single images, (C, H, W))."""
    za, zb = encode_vectors(model, torch.stack([x_a, x_b])).chunk(2)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    z = slerp(za.expand(steps, -1), zb.expand(steps, -1), t) if spherical else (1 - t) * za + t * zb
    z[0], z[-1] = za[0], zb[0]  # the endpoints are the encodings themselves, not a rounding of them
    return decode_vectors(model, z)


def attribute_vector(model: torch.nn.Module, with_attribute: Tensor, without_attribute: Tensor) -> Tensor:
    """Mean latent of images that have an attribute minus the mean of those that do not (White 2016), (D,)."""
    return encode_vectors(model, with_attribute).mean(0) - encode_vectors(model, without_attribute).mean(0)


def apply_attribute(
    model: torch.nn.Module, x: Tensor, vector: Tensor, strengths: list[float] | Tensor
) -> Tensor:
    """Decode the encoding of each image in x (N, C, H, W) moved by `strength * vector`, for every strength.

    Returns (N * len(strengths), C, H, W), image-major: the strip of edits of x[0] first.
    """
    z = encode_vectors(model, x)
    s = torch.as_tensor(strengths, dtype=z.dtype).view(1, -1, 1)
    return decode_vectors(model, (z[:, None, :] + s * vector.view(1, 1, -1)).flatten(0, 1))


def nearest_neighbours(
    model: torch.nn.Module, queries: Tensor, pool: Tensor, k: int = 5
) -> tuple[Tensor, Tensor]:
    """The k images of `pool` with latents nearest (Euclidean) each query's: (indices, distances), (N, k)."""
    zq, zp = encode_vectors(model, queries), encode_vectors(model, pool)
    d = torch.cdist(zq, zp)
    dist, idx = d.topk(min(k, len(pool)), dim=1, largest=False)
    return idx, dist


def ink(images: Tensor) -> Tensor:
    """Fraction of pixels brighter than half: a simple stroke-thickness statistic for digits, (N,)."""
    return (images > 0.5).float().flatten(1).mean(1)
