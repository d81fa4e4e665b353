"""Video family: `video_ddpm`, a space-time diffusion U-Net for clips, frame prediction and inpainting."""

from genzoo.models.video import video_ddpm

__all__ = ["video_ddpm"]
