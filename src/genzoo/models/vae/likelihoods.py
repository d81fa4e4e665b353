"""Decoder likelihoods p(x|z) for images in [0, 1], as per-example negative log-likelihoods in nats.

- bernoulli: cross-entropy on grey levels, the convention of pythae and most VAE papers on MNIST
  (not a normalised density for non-binary pixels; comparable across those papers, not to bits/dim).
- gaussian: fixed sigma.
- logistic: discretised logistic over 256 levels — a proper discrete likelihood, so bits/dim is honest.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")


def decoder_channels(likelihood: str, channels: int) -> int:
    return channels * 2 if likelihood == "logistic" else channels


def nll(x: Tensor, out: Tensor, likelihood: str, sigma: float = 0.1) -> Tensor:
    """-log p(x | decoder output), summed over pixels: shape (N,)."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(out.float(), x, reduction="none").flatten(1).sum(1)
    if likelihood == "gaussian":
        d = x[0].numel()
        const = d * math.log(sigma * math.sqrt(2 * math.pi))
        return ((x - out.float()) ** 2).flatten(1).sum(1) / (2 * sigma**2) + const
    if likelihood == "logistic":
        return discretized_logistic_nll(x, *out.float().chunk(2, dim=1))
    raise ValueError(likelihood)


def mean(out: Tensor, likelihood: str) -> Tensor:
    """The decoder's expected image in [0, 1]."""
    if likelihood == "bernoulli":
        return torch.sigmoid(out.float())
    if likelihood == "gaussian":
        return out.float().clamp(0, 1)
    return out.float().chunk(2, dim=1)[0].clamp(0, 1)


def discretized_logistic_nll(x: Tensor, mu: Tensor, log_scale: Tensor, bins: int = 256) -> Tensor:
    """NLL of x (on the grid k/(bins-1)) under a logistic discretised into `bins` levels; edges absorb tails."""
    log_scale = log_scale.clamp(min=-7.0)
    half = 0.5 / (bins - 1)
    centered = x - mu
    inv_s = torch.exp(-log_scale)
    plus = torch.sigmoid(inv_s * (centered + half))
    minus = torch.sigmoid(inv_s * (centered - half))
    log_cdf_plus = F.logsigmoid(inv_s * (centered + half))  # for x at the lowest level
    log_one_minus_cdf_min = -F.softplus(inv_s * (centered - half))  # for x at the highest level
    mid = torch.log((plus - minus).clamp(min=1e-12))
    logp = torch.where(x < half, log_cdf_plus, torch.where(x > 1 - half, log_one_minus_cdf_min, mid))
    return -logp.flatten(1).sum(1)
