"""Diffusion family: `ddpm`, `cddpm`, `sr3`, `inpaint_ddpm` (U-Net denoisers), `ldm` (latent); samplers apart."""

from genzoo.models.diffusion import ddpm, inpaint_ddpm, latent, schedulers, sr3

__all__ = ["ddpm", "inpaint_ddpm", "latent", "schedulers", "sr3"]
