"""Neural spline flow (Durkan et al. 2019): rational-quadratic spline coupling or autoregressive layers."""

from __future__ import annotations

from dataclasses import dataclass

from genzoo.base import Recipe
from genzoo.models.flows.flow import Chain, FlowConfig, FlowModel
from genzoo.models.flows.layers import (
    Autoregressive,
    FlowLayer,
    VectorCoupling,
)
from genzoo.registry import register_model


@dataclass
class NSFConfig(FlowConfig):
    bins: int = 8
    bound: float = 3.0  # the spline acts on [-bound, bound], identity outside
    autoregressive: bool = False  # True: autoregressive NSF (MADE conditioner) instead of coupling


@register_model("nsf", "NSF: rational-quadratic spline coupling (or autoregressive) flow")
class NSF(FlowModel):
    """Neural Spline Flow (Durkan et al. 2019): monotonic rational-quadratic splines, coupling by default,
    autoregressive with `autoregressive=True`. Images are flattened."""

    quick = Recipe("moons", {"num_layers": 2, "hidden": [16]})

    Config = NSFConfig

    def build_vector(self, dim: int, context_dim: int) -> FlowLayer:
        c = self.config
        if c.autoregressive:
            return Chain(
                [
                    Autoregressive(
                        dim,
                        tuple(c.hidden),
                        "spline",
                        reverse=i % 2 == 1,
                        context_dim=context_dim,
                        bins=c.bins,
                        bound=c.bound,
                    )
                    for i in range(c.num_layers)
                ]
            )
        return Chain(
            [
                VectorCoupling(
                    dim,
                    tuple(c.hidden),
                    "spline",
                    flip=i % 2 == 1,
                    context_dim=context_dim,
                    bins=c.bins,
                    bound=c.bound,
                )
                for i in range(c.num_layers)
            ]
        )
