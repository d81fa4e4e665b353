"""Resampling images the way super-resolution is posed: the degradation (antialiased bicubic downscaling)
and the baseline every upscaler must beat (plain bicubic upsampling)."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F


def downscale(images: Tensor, scale: int) -> Tensor:
    """The low-resolution view of `images` (antialiased bicubic), which super-resolution models learn to invert."""
    h, w = images.shape[-2:]
    return F.interpolate(
        images, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)


def bicubic_upscale(lowres: Tensor, scale: int) -> Tensor:
    """The baseline (and SR3's condition): plain bicubic upsampling by `scale`."""
    return F.interpolate(lowres, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
