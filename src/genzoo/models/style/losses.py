"""The losses of neural style transfer, shared by the optimisation and feed-forward methods.

Content and style losses are *relative* squared errors (divided by the target's squared norm), so each
is about 1 for an unrelated image whatever the feature network: the same weights work for VGG, random
and trained features, and losses are comparable across images and sizes. Style uses Gram matrices
(Gatys et al. 2016): channel co-activation averaged over positions, blind to where things are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

EPS = 1e-8


def gram(features: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C, C): F F^T / (H W), the mean outer product of the per-pixel feature vectors."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def relative_error(x: Tensor, target: Tensor) -> Tensor:
    """Per example: ||x - target||^2 / ||target||^2 (target broadcasts over the batch)."""
    target = target.expand_as(x)
    dims = tuple(range(1, x.ndim))
    return ((x - target) ** 2).sum(dims) / ((target**2).sum(dims) + EPS)


def content_loss(features: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Mean over layers of the relative feature error; per example, shape (N,)."""
    return torch.stack([relative_error(features[k], targets[k]) for k in targets]).mean(0)


def style_loss(
    features: Mapping[str, Tensor],
    target_grams: Sequence[Mapping[str, Tensor]],
    style_weights: Sequence[float] | None = None,
) -> Tensor:
    """Weighted sum over style images of the mean over layers of the relative Gram error; shape (N,).

    Several style images blend by weighting their losses (weights are normalised to sum to 1).
    """
    weights = torch.as_tensor(
        style_weights if style_weights is not None else [1.0] * len(target_grams), dtype=torch.float32
    )
    weights = weights / weights.sum()
    grams = {k: gram(features[k]) for k in target_grams[0]}
    per_style = [torch.stack([relative_error(grams[k], t[k]) for k in t]).mean(0) for t in target_grams]
    return sum(float(w) * s for w, s in zip(weights, per_style, strict=True))  # type: ignore[return-value]


def tv_loss(x: Tensor) -> Tensor:
    """Total variation per example: mean squared difference of vertical plus horizontal neighbours."""
    dy = (x[..., 1:, :] - x[..., :-1, :]) ** 2
    dx = (x[..., :, 1:] - x[..., :, :-1]) ** 2
    return dy.flatten(1).mean(1) + dx.flatten(1).mean(1)
