"""Text-to-image family: `dalle` (GPT over caption + VQ-VAE tokens), `t2i_diffusion` (pixel-space,
Imagen-style) and `t2i_ldm` (latent, Stable-Diffusion-style); all with classifier-free guidance.

No re-exports: import a model from its own module, `genzoo.models.text2image.<model>`.
"""
