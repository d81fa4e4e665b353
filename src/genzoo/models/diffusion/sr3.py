"""SR3-style super-resolution by diffusion (Saharia et al. 2021), predicting the residual over bicubic.

The U-Net sees the noisy image concatenated with the bicubic-upsampled low-resolution input. Like SRDiff
(Li et al. 2022) it diffuses the *residual* high-res minus bicubic rather than the whole image: the residual
is small and centred, so a tiny model trained for minutes already adds detail instead of re-learning the
picture. Trained on high-resolution patches; the low-resolution inputs are made on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.ddpm import DDPMConfig, UNetDiffusion
from genzoo.models.diffusion.schedulers import Scheduler
from genzoo.nn.resample import bicubic_upscale, downscale
from genzoo.protocols import Upscaler
from genzoo.registry import register_model


@dataclass
class SR3Config(DDPMConfig):
    image_shape: tuple[int, int, int] = (3, 32, 32)
    scale: int = 4
    sample_steps: int = 20
    # x0-prediction with the U-Net's zero-initialised output starts out as exactly bicubic (zero residual),
    # so even a briefly trained model is never worse than its baseline by much; eps would start from noise
    prediction: str = "x0"


@register_model("sr3", "SR3-style diffusion super-resolution (residual over bicubic); model.upscale(lowres)")
class SR3(UNetDiffusion, Upscaler):
    """`upscale(lowres)` returns an image `scale` times larger; trained on patches of `image_shape`."""

    quick = Recipe(
        "photos",
        {
            "scale": 2,
            **{
                "base_channels": 8,
                "channel_mults": [1, 2],
                "attn_resolutions": [4],
                "heads": 2,
                "timesteps": 100,
                "sample_steps": 3,
            },
        },
        {"patch": 16, "n": 32},
    )

    Config = SR3Config
    default_lr = 5e-4

    def __init__(self, config: SR3Config, data_info: DataInfo | None = None) -> None:
        if config.cond_channels not in (0, config.image_shape[0]):
            raise GenzooError("sr3 conditions on the upsampled image: cond_channels must equal the image channels")
        if config.scale < 2 or min(config.image_shape[1:]) % config.scale:
            raise GenzooError(f"scale must be >= 2 and divide the patch size {config.image_shape[1:]}")
        config.cond_channels = config.image_shape[0]
        super().__init__(config, data_info)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        # no self-attention: upscaling a whole photo would make the 8x8-patch attention layer attend over
        # ~17k positions (a 1 GB score matrix per head). benchmarks/sr3.py measures this attention-free U-Net
        return {**super().config_from_data(info), "num_classes": 0, "attn_resolutions": ()}

    def loss(self, batch: Any) -> dict[str, Tensor]:
        hr = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.check_input(hr, "training patch")
        up = bicubic_upscale(downscale(hr.float(), self.config.scale), self.config.scale)
        return self.diffusion_loss(2 * (hr.float() - up), (None, up * 2 - 1))

    @torch.no_grad()
    def upscale(
        self,
        lowres: Tensor,
        scheduler: str | Scheduler | None = None,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """(N, C, h, w) in [0, 1] -> (N, C, scale*h, scale*w). Any size works: the U-Net is convolutional."""
        c = self.config.image_shape[0]
        if lowres.ndim != 4 or lowres.shape[1] != c:
            raise GenzooError(
                f"low-resolution image must be (N, {c}, h, w) for this {c}-channel model, "
                f"got shape {tuple(lowres.shape)}"
            )
        up = bicubic_upscale(lowres.to(self.device).float().clamp(0, 1), self.config.scale)
        residual = self.denoise(up.shape, (None, up * 2 - 1), scheduler=scheduler, steps=steps, generator=generator)
        return (up + residual / 2).clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, lowres: Tensor | None = None, **kwargs: Any) -> Tensor:
        """Super-resolve `lowres`; SR3 has no unconditional samples to draw."""
        if lowres is None:
            raise GenzooError("sr3 only upscales: call model.upscale(lowres) or sample(n, lowres=...)")
        return self.upscale(lowres[:n], **kwargs)

    def sample_grid(self, n: int = 64) -> Tensor | None:
        return None
