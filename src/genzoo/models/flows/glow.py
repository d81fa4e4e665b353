"""Glow (Kingma & Dhariwal 2018): actnorm, invertible 1x1 convolution (LU), affine coupling, multi-scale."""

from __future__ import annotations

from genzoo.base import Recipe
from genzoo.models.flows.flow import Chain, FlowModel, MultiScale, check_divisible
from genzoo.models.flows.layers import (
    ActNorm,
    FlowLayer,
    ImageCoupling,
    InvertibleLinearLU,
    Squeeze,
    VectorCoupling,
    channel_mask,
)
from genzoo.registry import register_model


@register_model("glow", "Glow: actnorm, invertible 1x1 conv (LU), affine coupling, multi-scale")
class Glow(FlowModel):
    """Glow (Kingma & Dhariwal 2018). Each step: actnorm, LU-parameterised invertible 1x1 convolution
    (a full LU linear map on vectors), affine coupling. Images, per level: squeeze, K steps, split."""

    quick = Recipe("digits", {"num_layers": 1, "channels": 8, "levels": 1})

    image_native = True
    # From benchmarks/pixelcnn.py (mnist5k, one thread): 12 steps per level, width 128 reached 1.408 bits/dim
    # in 1540 s; 8 x 128 1.558 (its mean validation NLL blew up after 770 s) and the old 4 x 64 1.901 in
    # 198 s. The learned split prior: 1.417 against 1.419 at the same budget, and better samples.
    # Glow's bounded sigmoid scale (`coupling_scale="sigmoid"`, which keeps bf16 steps stable) and variational
    # dequantisation (`dequantization="variational"`) together gave 1.366-1.376 on mnist5k and helped on 8x8
    # digits, but are not defaults: they did not carry over to natural images (benchmarks/glow_datasets.py,
    # photos, fp32, 480 s: tanh + uniform 3.972, sigmoid 4.144, variational 4.005, both 4.168).
    image_defaults = {"num_layers": 12, "channels": 128, "levels": 2, "split_prior": True}

    def build_vector(self, dim: int, context_dim: int) -> FlowLayer:
        c = self.config
        layers: list[FlowLayer] = []
        for i in range(c.num_layers):
            layers += [
                ActNorm(dim),
                InvertibleLinearLU(dim, seed=i),
                VectorCoupling(dim, tuple(c.hidden), "affine", context_dim=context_dim),
            ]
        return Chain(layers)

    def build_image(self, shape: tuple[int, int, int], context_dim: int) -> FlowLayer:
        cfg = self.config
        check_divisible(shape, cfg.levels, "glow")
        c, h, w = shape
        levels = []
        for lvl in range(cfg.levels):
            c, h, w = c * 4, h // 2, w // 2
            layers: list[FlowLayer] = [Squeeze()]
            for i in range(cfg.num_layers):
                layers += [
                    ActNorm(c),
                    InvertibleLinearLU(c, seed=100 * lvl + i),
                    ImageCoupling(channel_mask(c, h, w, 0), cfg.channels, context_dim, cfg.coupling_scale),
                ]
            levels.append(Chain(layers))
            if lvl < cfg.levels - 1:
                c = c // 2
        return MultiScale(levels, shape, cfg.split_prior)
