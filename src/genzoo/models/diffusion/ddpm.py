"""Denoising diffusion (Ho et al. 2020): eps / x0 / v prediction, classifier-free guidance, any sampler.

The network is `genzoo.nn.unet.UNet`; the denoising loop, guidance, RePaint and the training objective are
the diffusion pipeline's (`pipeline.py`) and the samplers live in `schedulers.py`, so the same trained model
draws with DDPM, DDIM or DPM-Solver++ and any number of steps. This file is the network and its conditioning.
Class-conditional models drop the label with probability `label_dropout` while training, which teaches the
unconditional branch that classifier-free guidance (Ho & Salimans 2022) mixes with the conditional one at
sampling time.
Image-conditional models (SR3 super-resolution) concatenate `cond_channels` of conditioning image to x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.pipeline import DiffusionModel, check_count, drop_condition, repaint
from genzoo.models.diffusion.schedulers import Scheduler
from genzoo.nn.unet import UNet
from genzoo.protocols import ClassConditional, Inpainter, Sampler
from genzoo.registry import register_model


@dataclass
class DDPMConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attn_resolutions: tuple[int, ...] = (8,)
    heads: int = 0  # attention heads; 0 = one per 32 channels (models saved with heads=4 keep 4)
    dropout: float = 0.0
    timesteps: int = 1000
    schedule: str = "linear"
    prediction: str = "eps"
    num_classes: int = 0
    label_dropout: float = 0.1
    guidance_scale: float = 1.0
    context_dim: int = 0
    cond_channels: int = 0
    sampler: str = "ddim"
    sample_steps: int = 50
    eta: float = 0.0
    clip_sample: bool = True


class UNetDiffusion(DiffusionModel):
    """A U-Net trained to denoise images, with everything the image diffusion models share. What a subclass
    can do with it (sample from noise, upscale, draw from text) it declares itself: `DDPM` samples and
    inpaints, `SR3` only upscales."""

    Config = DDPMConfig
    default_lr = 1e-3  # small U-Nets on short budgets tolerate (and need) a larger step than the paper's 2e-4
    # EMA half-life ~140 steps suits the few-thousand-step runs genzoo's budgets allow; 0.9999 for long runs
    default_ema = 0.995

    def __init__(self, config: DDPMConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if not 0.0 <= config.label_dropout < 1.0:
            raise GenzooError(f"label_dropout must be in [0, 1), got {config.label_dropout}")
        c, h, w = config.image_shape
        self.net = UNet(
            c + config.cond_channels,
            c,
            max(h, w),
            config.base_channels,
            tuple(config.channel_mults),
            config.num_res_blocks,
            tuple(config.attn_resolutions),
            config.heads,
            config.dropout,
            config.num_classes,
            config.context_dim,
        )

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or len(info.shape) != 3:
            raise GenzooError(f"model {cls.model_name!r} needs image data; {info.name!r} is {info.kind} data")
        shape = tuple(info.shape)
        mults = (1, 2, 2) if min(shape[1:]) >= 16 else (1, 2)
        return {"image_shape": shape, "channel_mults": mults, "attn_resolutions": (min(shape[1:]) // 4,)}

    # -- conditioning --------------------------------------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.config.image_shape)

    def _labels(self, labels: Tensor | int | None, n: int) -> Tensor | None:
        k = self.config.num_classes
        if labels is None:
            return None
        if not k:
            raise GenzooError(f"model {self.model_name!r} is unconditional; it takes no labels")
        y = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if y.numel() == 1 and n > 1:
            y = y.expand(n)
        if y.numel() != n or (y < 0).any() or (y >= k).any():
            raise GenzooError(f"labels must be {n} class indices in [0, {k})")
        return y

    def _cond(self, cond: Tensor | None, n: int) -> Tensor | None:
        """Check and scale an image condition (in [0, 1]) to the model's [-1, 1] space."""
        want = self.config.cond_channels
        if not want:
            if cond is not None:
                raise GenzooError(f"model {self.model_name!r} takes no image condition")
            return None
        if cond is None:
            raise GenzooError(f"model {self.model_name!r} needs an image condition (cond=...)")
        _, h, w = self.config.image_shape
        if cond.ndim != 4 or tuple(cond.shape[1:]) != (want, h, w) or len(cond) != n:
            raise GenzooError(f"condition image must be ({n}, {want}, {h}, {w}), got {tuple(cond.shape)}")
        return cond.to(self.device).float() * 2 - 1

    def denoiser(self, x: Tensor, t: Tensor, cond: tuple[Tensor | None, Tensor | None] | None = None) -> Tensor:
        """The U-Net's output for noisy x at timesteps t; cond is (labels, image in [-1, 1]), either None.

        Labels None is the learned "no label" token; the image (SR3's upsampled input, inpainting's masked
        image and mask) is concatenated to x as extra channels.
        """
        labels, image = (None, None) if cond is None else cond
        return self.net(x if image is None else torch.cat([x, image], dim=1), t, labels)

    def training_labels(self, y: Tensor | None) -> Tensor | None:
        """Labels for one training batch: unlabelled (< 0) and `label_dropout` of the rest become "no label"."""
        if not self.config.num_classes or y is None:
            return None
        return drop_condition(y.long(), self.config.num_classes, self.config.label_dropout, also=y < 0)

    # -- protocol ------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch if isinstance(batch, (list, tuple)) else (batch, None)
        self.check_input(x, "training image")
        return self.diffusion_loss(self.to_space(x), (self.training_labels(y), None))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: Tensor | int | None = None,
        scheduler: str | Scheduler | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        eta: float | None = None,
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
        callback: Callable[[int, Tensor], Tensor] | None = None,
    ) -> Tensor:
        """n images in [0, 1]: start from noise and apply `scheduler` ("ddpm", "ddim", "dpm++") for `steps`.

        With `labels`, classifier-free guidance at `guidance_scale` (the config's by default); `cond` is
        the image condition of image-conditional models. `callback(t, x)`, if given, may replace x after
        each step.
        """
        check_count(n)
        y, c = self._labels(labels, n), self._cond(cond, n)  # no labels: the learned "no label" token
        null = None if y is None else (torch.full_like(y, self.config.num_classes), c)
        w = self.config.guidance_scale if guidance_scale is None else guidance_scale
        x = self.denoise((n, *self.sample_shape), (y, c), null=null, guidance_scale=w, scheduler=scheduler,
                         steps=steps, eta=eta, generator=generator, callback=callback)
        return self.from_space(x)

    def inpaint(self, images: Tensor, mask: Tensor, steps: int = 50, jump: int = 5, resample: int = 5,
                scheduler: str | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Fill the pixels where `mask` is 1 with RePaint (`pipeline.repaint`); no retraining needed."""
        if self.config.cond_channels:
            raise GenzooError("RePaint needs an unconditional image model, not an image-conditioned one")
        return repaint(self, images, mask, steps=steps, jump=jump, resample=resample, scheduler=scheduler,
                       generator=generator)

    def sample_grid(self, n: int = 64) -> Tensor:
        if self.config.num_classes:
            return self.sample(n, labels=torch.arange(n) % self.config.num_classes)
        return self.sample(n)


@register_model("ddpm", "denoising diffusion U-Net; DDPM/DDIM/DPM-Solver++ sampling, classifier-free guidance")
class DDPM(UNetDiffusion, Sampler, ClassConditional, Inpainter):
    """`sample(n, scheduler=..., steps=..., labels=..., guidance_scale=...)`; `inpaint` by RePaint."""

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

