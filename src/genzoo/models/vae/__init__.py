"""Variational autoencoders: `vae` (beta-VAE) and `cvae` (class-conditional)."""

from genzoo.models.vae.vae import CVAE, VAE, VAEConfig

__all__ = ["CVAE", "VAE", "VAEConfig"]
