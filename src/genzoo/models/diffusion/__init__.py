"""Diffusion family: `ddpm`, `cddpm`, `sr3` (U-Net denoisers), `ldm` (latent); samplers apart."""

from genzoo.models.diffusion import ddpm, latent, schedulers, sr3

__all__ = ["ddpm", "latent", "schedulers", "sr3"]
