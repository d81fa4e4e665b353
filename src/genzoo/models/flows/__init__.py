"""Normalizing flows: `realnvp`, `glow`, `maf`, `nsf` (vectors and images) and `argmax_flow` (characters)."""

from genzoo.models.flows.models import MAF, NSF, FlowConfig, FlowModel, Glow, NSFConfig, RealNVP
from genzoo.models.flows.text import ArgmaxFlow, ArgmaxFlowConfig

__all__ = [
    "MAF",
    "NSF",
    "ArgmaxFlow",
    "ArgmaxFlowConfig",
    "FlowConfig",
    "FlowModel",
    "Glow",
    "NSFConfig",
    "RealNVP",
]
