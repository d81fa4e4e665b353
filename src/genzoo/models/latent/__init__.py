"""Latent-variable models: `vqvae` (discrete codes, token prior) and `ssvae` (semi-supervised, Kingma M2 / M1+M2).

No re-exports: import a model from its own module, `genzoo.models.latent.<model>`.
"""
