"""Mask-conditioned diffusion inpainting (as Stable Diffusion's inpainting U-Net / Palette, Saharia et al. 2022).

The U-Net sees the noisy image together with two extra inputs: the image with its hole blanked out and the
mask itself. It is trained on random masks (rectangles and free-form brush strokes, plus a few all-hole
masks, which make it an unconditional generator too), so at test time it fills a hole in one ordinary
sampling pass: no RePaint resampling, ~`resample` times fewer network calls. Known pixels of the result
are pasted back from the input, so they are exactly unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.ddpm import DDPM, DDPMConfig
from genzoo.models.diffusion.pipeline import check_count, check_image_mask, keep_known
from genzoo.models.diffusion.schedulers import Scheduler
from genzoo.registry import register_model


@dataclass
class InpaintDDPMConfig(DDPMConfig):
    # share of training masks of each kind; the rest are free-form strokes
    p_rectangle: float = 0.45
    p_full: float = 0.1  # the whole image is the hole: teaches plain sampling, as label dropout does for CFG


def random_masks(
    n: int, h: int, w: int, p_rectangle: float = 0.45, p_full: float = 0.1, generator: torch.Generator | None = None
) -> Tensor:
    """(n, 1, h, w) masks, 1 = hole: a random rectangle, a free-form brush stroke, or the whole image.

    Rectangles cover 1/4 to 3/4 of each side; strokes are random walks of a round brush (radius ~ side/8 to
    side/4), the free-form masks of DeepFill v2 in miniature. Vectorised over the batch.
    """
    g = dict(generator=generator)
    ys = torch.arange(h).view(1, h, 1).float()
    xs = torch.arange(w).view(1, 1, w).float()
    u = torch.rand(n, **g)
    # rectangles
    rh = (h * (0.25 + 0.5 * torch.rand(n, **g))).round().clamp(min=1)
    rw = (w * (0.25 + 0.5 * torch.rand(n, **g))).round().clamp(min=1)
    top = (torch.rand(n, **g) * (h - rh + 1)).floor()
    left = (torch.rand(n, **g) * (w - rw + 1)).floor()
    rect = (
        (ys >= top.view(-1, 1, 1))
        & (ys < (top + rh).view(-1, 1, 1))
        & (xs >= left.view(-1, 1, 1))
        & (xs < (left + rw).view(-1, 1, 1))
    )
    # free-form strokes: a random walk stamping a disc at each step
    side = min(h, w)
    radius = (side / 8 + torch.rand(n, **g) * side / 8).view(-1, 1, 1)
    pos = torch.rand(n, 2, **g) * torch.tensor([h - 1.0, w - 1.0])
    angle = torch.rand(n, **g) * 2 * torch.pi
    stroke = torch.zeros(n, h, w, dtype=torch.bool)
    for _ in range(max(4, side // 2)):
        d2 = (ys - pos[:, 0].view(-1, 1, 1)) ** 2 + (xs - pos[:, 1].view(-1, 1, 1)) ** 2
        stroke |= d2 <= radius**2
        angle = angle + (torch.rand(n, **g) - 0.5) * torch.pi / 2
        step = torch.stack([angle.sin(), angle.cos()], 1) * side / 6
        pos = (pos + step).clamp(torch.zeros(2), torch.tensor([h - 1.0, w - 1.0]))
    full = torch.ones(n, h, w, dtype=torch.bool)
    kind = torch.where(u < p_full, 0, torch.where(u < p_full + p_rectangle, 1, 2)).view(-1, 1, 1)
    mask = torch.where(kind == 0, full, torch.where(kind == 1, rect, stroke))
    return mask.unsqueeze(1).float()


@register_model(
    "inpaint_ddpm", "mask-conditioned diffusion inpainting trained on random masks; model.inpaint(images, mask)"
)
class InpaintDDPM(DDPM):
    """`inpaint(images, mask)` fills mask==1 in one sampling pass; `sample(n)` draws whole images."""

    quick = Recipe(
        "digits",
        {
            "base_channels": 8,
            "channel_mults": [1, 2],
            "attn_resolutions": [4],
            "heads": 2,
            "timesteps": 100,
            "sample_steps": 3,
        },
    )

    Config = InpaintDDPMConfig

    def __init__(self, config: InpaintDDPMConfig, data_info: DataInfo | None = None) -> None:
        c = config.image_shape[0]
        if config.cond_channels not in (0, c + 1):
            raise GenzooError(f"inpaint_ddpm conditions on masked image + mask: cond_channels must be {c + 1}")
        if not (0 <= config.p_full and 0 <= config.p_rectangle and config.p_full + config.p_rectangle <= 1):
            raise GenzooError("p_full and p_rectangle must be non-negative and sum to at most 1")
        config.cond_channels = c + 1
        config.num_classes = 0
        super().__init__(config, data_info)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        return {**super().config_from_data(info), "num_classes": 0}

    @staticmethod
    def condition(x0: Tensor, mask: Tensor) -> Tensor:
        """The network's extra channels: the image in [-1, 1] with the hole zeroed, then the mask."""
        return torch.cat([x0 * (1 - mask), mask.expand(len(x0), 1, *x0.shape[-2:])], dim=1)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.check_input(x, "training image")
        x0 = self.to_space(x)
        _, h, w = self.config.image_shape
        mask = random_masks(len(x0), h, w, self.config.p_rectangle, self.config.p_full).to(x0.device)
        return self.diffusion_loss(x0, (None, self.condition(x0, mask)))

    @torch.no_grad()
    def inpaint(
        self,
        images: Tensor,
        mask: Tensor,
        steps: int | None = None,
        scheduler: str | Scheduler | None = None,
        generator: torch.Generator | None = None,
        **_: Any,
    ) -> Tensor:
        """Fill the pixels where `mask` is 1 ((N, C, H, W) images in [0, 1]; one mask or one per image).

        One pass of the model's sampler (default DDIM-50); RePaint's jump/resample options are accepted and
        ignored, so callers can pass the same options to any `Inpainter`.
        """
        images, mask = check_image_mask(self, images, mask)
        images, mask = images.to(self.device), mask.to(self.device)
        mask = mask[:, :1].expand(len(images), 1, *images.shape[-2:])
        cond = (None, self.condition(self.to_space(images), mask))
        x = self.denoise(images.shape, cond, scheduler=scheduler, steps=steps, generator=generator)
        return keep_known(images, mask, self.from_space(x))

    @torch.no_grad()
    def sample(self, n: int, **kwargs: Any) -> Tensor:
        """n whole images: inpainting with the entire image as the hole (a mask seen in training)."""
        check_count(n)
        shape = self.config.image_shape
        blank = torch.zeros(n, *shape, device=self.device)
        return self.inpaint(blank, torch.ones(1, 1, *shape[1:]), **kwargs)

    def sample_grid(self, n: int = 64) -> Tensor:
        return self.sample(n)
