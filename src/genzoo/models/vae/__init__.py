"""Variational autoencoders: `vae` (beta-VAE), `cvae` (class-conditional), `vqvae`, `ssvae` (M2)."""

from genzoo.models.vae.ssvae import SSVAE, SSVAEConfig
from genzoo.models.vae.vae import CVAE, VAE, VAEConfig
from genzoo.models.vae.vqvae import VQVAE, VQVAEConfig

__all__ = ["CVAE", "SSVAE", "VAE", "VQVAE", "SSVAEConfig", "VAEConfig", "VQVAEConfig"]
