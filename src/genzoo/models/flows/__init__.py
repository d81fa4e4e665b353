"""Normalizing flows: `realnvp`, `glow`, `maf`, `nsf` — exact log-likelihood on vectors and images."""

from genzoo.models.flows.models import MAF, NSF, FlowConfig, FlowModel, Glow, NSFConfig, RealNVP

__all__ = ["MAF", "NSF", "FlowConfig", "FlowModel", "Glow", "NSFConfig", "RealNVP"]
