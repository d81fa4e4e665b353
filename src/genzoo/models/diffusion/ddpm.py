"""Denoising diffusion (Ho et al. 2020): eps / x0 / v prediction, classifier-free guidance, any sampler.

The network is `genzoo.nn.unet.UNet`; the noise schedule and samplers live in `schedulers.py`, so the same
trained model draws with DDPM, DDIM or DPM-Solver++ and any number of steps. Class-conditional models drop
the label with probability `label_dropout` while training, which teaches the unconditional branch that
classifier-free guidance (Ho & Salimans 2022) mixes with the conditional one at sampling time.
Image-conditional models (SR3 super-resolution) concatenate `cond_channels` of conditioning image to x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.pipeline import repaint
from genzoo.models.diffusion.schedulers import PREDICTIONS, NoiseSchedule, Scheduler, make_scheduler
from genzoo.nn.autocast import autocast_context
from genzoo.nn.unet import UNet
from genzoo.protocols import ClassConditional, Denoiser, Inpainter, Sampler
from genzoo.registry import register_model


@dataclass
class DDPMConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attn_resolutions: tuple[int, ...] = (8,)
    heads: int = 4
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


class DiffusionModel(GenerativeModel, Denoiser):
    """A U-Net trained to denoise, with everything every image diffusion model shares. What a subclass can do
    with it (sample from noise, upscale, draw from text) it declares itself: `DDPM` samples and inpaints,
    `SR3` only upscales."""

    Config = DDPMConfig
    default_lr = 1e-3  # small U-Nets on short budgets tolerate (and need) a larger step than the paper's 2e-4
    # EMA half-life ~140 steps suits the few-thousand-step runs genzoo's budgets allow; 0.9999 for long runs
    default_ema = 0.995

    def __init__(self, config: DDPMConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.prediction not in PREDICTIONS:
            raise GenzooError(
                f"unknown prediction {config.prediction!r}; choose one of {', '.join(PREDICTIONS)}"
            )
        if not 0.0 <= config.label_dropout < 1.0:
            raise GenzooError(f"label_dropout must be in [0, 1), got {config.label_dropout}")
        c, h, w = config.image_shape
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        make_scheduler(config.sampler, self.schedule)  # refuse an unknown default sampler at build time
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

    # -- pieces --------------------------------------------------------------------------------------
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

    def forward_net(
        self,
        x: Tensor,
        t: Tensor,
        labels: Tensor | None = None,
        cond: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """The raw network output (in the units of `config.prediction`) for noisy x at timesteps t."""
        inp = torch.cat([x, cond], dim=1) if cond is not None else x
        return self.net(inp, t, labels, context)

    @torch.no_grad()
    def model_output(
        self,
        x: Tensor,
        t: int,
        labels: Tensor | None = None,
        guidance_scale: float | None = None,
        cond: Tensor | None = None,
    ) -> Tensor:
        """Network output at integer timestep t, with classifier-free guidance where labels are given.

        guidance_scale w mixes unconditional u and conditional c outputs as u + w (c - u): w=0 is the
        unconditional model, w=1 the plain conditional one, w>1 trades diversity for class fidelity.
        """
        w = self.config.guidance_scale if guidance_scale is None else guidance_scale
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.long)
        with autocast_context(x.device):
            if labels is None or w == 1.0:
                return self.forward_net(x, tt, labels, cond).float()
            null = torch.full_like(labels, self.config.num_classes)
            both = self.forward_net(
                torch.cat([x, x]),
                torch.cat([tt, tt]),
                torch.cat([null, labels]),
                None if cond is None else torch.cat([cond, cond]),
            ).float()
        u, c = both.chunk(2)
        return u + w * (c - u)

    def make_scheduler(
        self, scheduler: str | Scheduler | None = None, steps: int | None = None, eta: float | None = None
    ) -> Scheduler:
        """A sampler for this model (its prediction type and clipping) with `steps` timesteps set."""
        sched = make_scheduler(
            scheduler or self.config.sampler,
            self.schedule,
            self.config.prediction,
            1.0 if self.config.clip_sample else None,
            self.config.eta if eta is None else eta,
        )
        sched.set_timesteps(self.config.sample_steps if steps is None else steps)
        return sched

    # -- protocol ------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch if isinstance(batch, (list, tuple)) else (batch, None)
        self.check_input(x, "training image")
        x0 = x.float() * 2 - 1
        labels = None
        if self.config.num_classes and y is not None:
            labels = y.long().clone()
            drop = torch.rand(len(labels), device=labels.device) < self.config.label_dropout
            labels[drop | (labels < 0)] = self.config.num_classes
        return self.denoising_loss(x0, labels=labels)

    def denoising_loss(
        self, x0: Tensor, labels: Tensor | None = None, cond: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Mean squared error of the network's prediction at a uniformly drawn timestep (x0 in [-1, 1])."""
        t = torch.randint(0, self.config.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.add_noise(x0, noise, t)
        target = self.schedule.target(self.config.prediction, x0, noise, t)
        mse = F.mse_loss(self.forward_net(xt, t, labels, cond).float(), target)
        return {"loss": mse, "mse": mse.detach()}

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

        `callback(t, x)`, if given, may replace x after each step (inpainting uses it to paste known pixels).
        """
        if not isinstance(n, int) or n < 1:
            raise GenzooError(f"number of samples must be a positive integer, got {n!r}")
        sched = self.make_scheduler(scheduler, steps, eta)
        y = self._labels(labels, n)
        c = self._cond(cond, n)
        x = torch.randn((n, *self.config.image_shape), generator=generator, device=self.device)
        for t in sched.timesteps:
            x = sched.step(self.model_output(x, t, y, guidance_scale, c), t, x, generator)
            if callback is not None:
                x = callback(t, x)
        return ((x + 1) / 2).clamp(0, 1)

    def inpaint(self, images: Tensor, mask: Tensor, steps: int = 50, jump: int = 5, resample: int = 5,
                scheduler: str | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Fill the pixels where `mask` is 1 with RePaint (`pipeline.repaint`); no retraining needed."""
        return repaint(self, images, mask, steps=steps, jump=jump, resample=resample, scheduler=scheduler,
                       generator=generator)

    def sample_grid(self, n: int = 64) -> Tensor:
        if self.config.num_classes:
            return self.sample(n, labels=torch.arange(n) % self.config.num_classes)
        return self.sample(n)


@register_model("ddpm", "denoising diffusion U-Net; DDPM/DDIM/DPM-Solver++ sampling, classifier-free guidance")
class DDPM(DiffusionModel, Sampler, ClassConditional, Inpainter):
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
