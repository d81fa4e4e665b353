"""Variational autoencoders: `vae` (beta-VAE) and `cvae` (class-conditional).

No re-exports: import a model from its own module, `genzoo.models.vae.<model>`.
"""
