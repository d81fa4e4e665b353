"""RealNVP (Dinh et al. 2017): affine coupling with checkerboard and channel masks, multi-scale."""

from __future__ import annotations

from genzoo.base import Recipe
from genzoo.models.flows.flow import Chain, FlowModel, MultiScale, check_divisible
from genzoo.models.flows.layers import (
    ActNorm,
    FlowLayer,
    ImageCoupling,
    Squeeze,
    VectorCoupling,
    channel_mask,
    checkerboard,
)
from genzoo.registry import register_model


@register_model("realnvp", "RealNVP: affine coupling, checkerboard/channel masks, multi-scale")
class RealNVP(FlowModel):
    """Affine coupling flow (Dinh et al. 2017). Vectors: alternating-half couplings. Images: per level,
    checkerboard couplings, squeeze, channel couplings, factor out half; the last level is checkerboard."""

    quick = Recipe("digits", {"num_layers": 2, "channels": 8, "levels": 1})

    image_native = True
    image_defaults = {"num_layers": 2, "channels": 32, "levels": 2}

    def build_vector(self, dim: int, context_dim: int) -> FlowLayer:
        c = self.config
        return Chain(
            [
                VectorCoupling(dim, tuple(c.hidden), "affine", flip=i % 2 == 1, context_dim=context_dim)
                for i in range(c.num_layers)
            ]
        )

    def build_image(self, shape: tuple[int, int, int], context_dim: int) -> FlowLayer:
        cfg = self.config
        check_divisible(shape, cfg.levels - 1, "realnvp")
        c, h, w = shape
        levels = []
        for lvl in range(cfg.levels):
            layers: list[FlowLayer] = []
            for i in range(cfg.num_layers):
                layers += [
                    ImageCoupling(checkerboard(c, h, w, i % 2), cfg.channels, context_dim, cfg.coupling_scale),
                    ActNorm(c),
                ]
            if lvl < cfg.levels - 1:
                layers.append(Squeeze())
                c, h, w = c * 4, h // 2, w // 2
                for i in range(cfg.num_layers):
                    layers += [
                        ImageCoupling(channel_mask(c, h, w, i % 2), cfg.channels, context_dim, cfg.coupling_scale),
                        ActNorm(c),
                    ]
                c = c // 2
            levels.append(Chain(layers))
        return MultiScale(levels, shape)
