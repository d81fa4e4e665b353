"""Video family: `video_ddpm`, a space-time diffusion U-Net for clips, frame prediction and inpainting.

No re-exports: import a model from its own module, `genzoo.models.video.<model>`.
"""
