"""Text-to-image family: `dalle` (GPT over caption + VQ-VAE tokens), `t2i_diffusion` (pixel-space,
Imagen-style) and `t2i_ldm` (latent, Stable-Diffusion-style); all with classifier-free guidance."""

from genzoo.models.text2image import dalle, diffusion

__all__ = ["dalle", "diffusion"]
