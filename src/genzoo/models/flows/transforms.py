"""Element-wise invertible maps with their log|derivative|: affine and rational-quadratic spline.

Both take unconstrained parameters from a conditioner network (last axis = parameters per dimension), so
coupling layers and autoregressive layers share them. The spline is the monotonic rational-quadratic
spline of Durkan et al. (2019), "Neural Spline Flows", on [-bound, bound] with identity tails outside.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

#: soft limit on affine log-scales: log s = c * tanh(raw / c) keeps early training from exploding.
SCALE_CLAMP = 3.0


def affine(x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
    """y = x * exp(log_s) + t (params[..., 0] = raw log-scale, params[..., 1] = shift); returns (y, log_s)."""
    log_s = SCALE_CLAMP * torch.tanh(params[..., 0] / SCALE_CLAMP)
    t = params[..., 1]
    if inverse:
        return (x - t) * torch.exp(-log_s), -log_s
    return x * torch.exp(log_s) + t, log_s


#: offset of the sigmoid scale: Glow's sigmoid(raw + 2), divided by sigmoid(2) so a zero conditioner is the identity
SIGMOID_OFFSET = 2.0


def affine_sigmoid(x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
    """Glow's coupling, y = (x + t) * s with s = sigmoid(raw + 2) / sigmoid(2) in (0, 1.14); returns (y, log s).

    Unlike `affine`'s exp(+-3), a step can expand by at most 14%, so an unusual input cannot be blown up by
    the product of many couplings' scales on the way to the latent (the data -> latent direction is the one
    `log_prob` runs).
    """
    log_s = F.logsigmoid(params[..., 0] + SIGMOID_OFFSET) + math.log1p(math.exp(-SIGMOID_OFFSET))
    t = params[..., 1]
    if inverse:
        return x * torch.exp(-log_s) - t, -log_s
    return (x + t) * torch.exp(log_s), log_s


def spline_params(bins: int) -> int:
    """Parameters per dimension of a spline with `bins` bins: widths, heights, interior derivatives."""
    return 3 * bins - 1


def _knots(raw: Tensor, bound: float, min_size: float) -> tuple[Tensor, Tensor]:
    """Bin sizes from unnormalised logits, and cumulative knot positions from -bound to bound."""
    bins = raw.shape[-1]
    size = min_size + (1 - min_size * bins) * torch.softmax(raw, dim=-1)
    cum = F.pad(torch.cumsum(size, dim=-1), (1, 0)) * (2 * bound) - bound
    return cum[..., 1:] - cum[..., :-1], cum


def rq_spline(
    x: Tensor,
    params: Tensor,
    inverse: bool = False,
    bound: float = 3.0,
    min_size: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Monotonic rational-quadratic spline; returns (y, log|dy/dx|) of the map applied (negated on inverse).

    Outside [-bound, bound] the map is the identity (log-derivative 0); boundary derivatives are 1 so the
    map is continuously differentiable there.
    """
    bins = (params.shape[-1] + 1) // 3
    widths, cum_w = _knots(params[..., :bins], bound, min_size)
    heights, cum_h = _knots(params[..., bins : 2 * bins], bound, min_size)
    d = min_derivative + F.softplus(params[..., 2 * bins :] + 0.5413)  # softplus(0.5413) ~ 1: near identity
    derivs = F.pad(d, (1, 1), value=1.0)

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    knots = cum_h if inverse else cum_w
    idx = torch.sum(xc[..., None] >= knots[..., 1:-1], dim=-1, keepdim=True)
    # one gather for all six per-bin quantities instead of six
    table = torch.stack([cum_w[..., :-1], widths, cum_h[..., :-1], heights, derivs[..., :-1], derivs[..., 1:]], -1)
    x_k, w_k, y_k, h_k, d_k, d_k1 = table.gather(-2, idx[..., None].expand(*idx.shape, 6))[..., 0, :].unbind(-1)
    delta = h_k / w_k
    two = d_k + d_k1 - 2 * delta

    if inverse:
        dy = xc - y_k
        a = h_k * (delta - d_k) + dy * two
        b = h_k * d_k - dy * two
        c = -delta * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0)
        theta = (2 * c) / (-b - torch.sqrt(disc))
        out = theta * w_k + x_k
    else:
        theta = (xc - x_k) / w_k
    theta_1m = theta * (1 - theta)
    denom = delta + two * theta_1m
    if not inverse:
        out = y_k + h_k * (delta * theta.pow(2) + d_k * theta_1m) / denom
    deriv_num = delta.pow(2) * (d_k1 * theta.pow(2) + 2 * delta * theta_1m + d_k * (1 - theta).pow(2))
    logdet = torch.log(deriv_num) - 2 * torch.log(denom)
    if inverse:
        logdet = -logdet
    return torch.where(inside, out, x), torch.where(inside, logdet, torch.zeros_like(logdet))


def apply(kind: str, x: Tensor, params: Tensor, inverse: bool, bound: float) -> tuple[Tensor, Tensor]:
    """Dispatch to the named element-wise transform."""
    if kind == "affine":
        return affine(x, params, inverse)
    return rq_spline(x, params, inverse, bound=bound)


def params_per_dim(kind: str, bins: int) -> int:
    return 2 if kind == "affine" else spline_params(bins)
