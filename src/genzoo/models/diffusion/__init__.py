"""Diffusion family: DDPM-style denoisers (`ddpm`, `cddpm`, `sr3`) and samplers apart from the networks."""

from genzoo.models.diffusion import ddpm, schedulers, sr3

__all__ = ["ddpm", "schedulers", "sr3"]
