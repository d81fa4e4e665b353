"""Normalizing flows: `realnvp`, `glow`, `maf`, `nsf` (vectors and images) and `argmax_flow` (characters).

No re-exports: import a model from its own module, `genzoo.models.flows.<model>`.
"""
