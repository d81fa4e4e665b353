"""Diffusion family: `ddpm`, `cddpm`, `sr3`, `inpaint_ddpm` (U-Net denoisers), `ldm` (latent); schedulers apart.

No re-exports: import a model from its own module, `genzoo.models.diffusion.<model>`.
"""
