"""MAF (Papamakarios et al. 2017): masked autoregressive flow with MADE conditioners."""

from __future__ import annotations

from genzoo.base import Recipe
from genzoo.models.flows.flow import Chain, FlowModel
from genzoo.models.flows.layers import (
    Autoregressive,
    FlowLayer,
)
from genzoo.registry import register_model


@register_model("maf", "MAF: masked autoregressive flow (MADE conditioners)")
class MAF(FlowModel):
    """Masked Autoregressive Flow (Papamakarios et al. 2017): density in one pass, sampling in D passes.
    Orders alternate between layers. Images are flattened."""

    quick = Recipe("moons", {"num_layers": 2, "hidden": [16]})

    def build_vector(self, dim: int, context_dim: int) -> FlowLayer:
        c = self.config
        return Chain(
            [
                Autoregressive(dim, tuple(c.hidden), "affine", reverse=i % 2 == 1, context_dim=context_dim)
                for i in range(c.num_layers)
            ]
        )
