"""Text-conditioned diffusion (Imagen / Stable Diffusion style), in pixel space or a VQ-VAE's latent space.

A small text encoder (`common.TextEncoder`, trained jointly) turns the caption into token features that
every attention block of the U-Net (`genzoo.nn.unet.UNet`, `context_dim` = the text width) cross-attends
to. Captions are replaced by the empty caption with probability `caption_dropout` while training, so the
same network also learns the unconditional score that classifier-free guidance mixes in:
eps = eps_u + w (eps_c - eps_u); w = 0 ignores the text, w = 1 is the plain conditional model.

- `t2i_diffusion`: pixel space (Imagen's base model, without its super-resolution cascade).
- `t2i_ldm`: `latent_of=RUN` names a trained `vqvae`; the diffusion runs on its continuous pre-quantisation
  grid (code_dim x h x w, scaled to unit variance) and samples are quantised and decoded at the end
  (the VQ-regularised variant of Rombach et al. 2022). The autoencoder is referenced by path, not copied.

Schedules and samplers are diffusion's own (`genzoo.models.diffusion.schedulers`): any of DDPM, DDIM,
DPM-Solver++ at any number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import Recipe
from genzoo.data.captions import WORDS
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.ddpm import DDPMConfig, DiffusionModel
from genzoo.models.text2image.common import CaptionConditioned, TextEncoder, captioned_fields
from genzoo.nn.autocast import autocast_context
from genzoo.registry import register_model


@dataclass
class TextDiffusionConfig(DDPMConfig):
    image_shape: tuple[int, int, int] = (1, 32, 32)
    base_channels: int = 32
    attn_resolutions: tuple[int, ...] = (8, 16)
    context_dim: int = 64  # width of the text encoder, which the U-Net cross-attends to
    text_layers: int = 2
    text_heads: int = 4
    tokenizer: str = ""  # the caption tokenizer's JSON (set from the dataset); "" = captioned_digits' words
    text_length: int = 12
    text_vocab: int = len(WORDS)
    caption_dropout: float = 0.1
    guidance_scale: float = 3.0
    sample_steps: int = 25
    latent_of: str = ""  # t2i_ldm: a trained vqvae run whose latent grid the diffusion runs on


@register_model(
    "t2i_diffusion",
    "text-to-image diffusion (Imagen-style): text encoder + cross-attention U-Net, classifier-free guidance",
)
class TextDiffusion(CaptionConditioned, DiffusionModel):
    """`sample(n, prompt="a large 3 to the left of a small 7", guidance_scale=3, steps=25)`."""

    quick = Recipe(
        "captioned_digits",
        {
            **{
                "base_channels": 8,
                "channel_mults": [1, 2],
                "attn_resolutions": [4],
                "heads": 2,
                "timesteps": 100,
                "sample_steps": 3,
            },
            "text_layers": 1,
        },
        {"n": 128, "size": 16, "layouts": "single"},
    )

    Config = TextDiffusionConfig
    default_lr = 1e-3
    default_ema = 0.995

    def __init__(self, config: TextDiffusionConfig, data_info: DataInfo | None = None) -> None:
        if not 0.0 <= config.caption_dropout < 1.0:
            raise GenzooError(f"caption_dropout must be in [0, 1), got {config.caption_dropout}")
        if config.context_dim < 1 or config.context_dim % config.text_heads:
            raise GenzooError(f"context_dim {config.context_dim} must be a positive multiple of text_heads")
        super().__init__(config, data_info)
        self.text = TextEncoder(config.text_vocab, config.text_length, config.context_dim, config.text_layers,
                                config.text_heads)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        fields = {**super().config_from_data(info), **captioned_fields(info)}
        size = min(info.shape[1:]) if info.shape else 32
        fields["attn_resolutions"] = (size // 4, size // 2)
        return fields

    # -- the space the diffusion runs in (pixels here; latents in t2i_ldm) --------------------------------
    def to_space(self, images: Tensor) -> Tensor:
        self.check_input(images, "training image")
        return images.float() * 2 - 1

    def from_space(self, x: Tensor) -> Tensor:
        return ((x + 1) / 2).clamp(0, 1)

    # -- training -----------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        images, ids = batch
        x0 = self.to_space(images)
        ids = ids.to(x0.device).clone()
        drop = torch.rand(len(ids), device=ids.device) < self.config.caption_dropout
        ids[drop] = self.caption_tokenizer.null(int(drop.sum())).to(ids.device)
        context, mask = self.text(ids)
        t = torch.randint(0, self.config.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.add_noise(x0, noise, t)
        target = self.schedule.target(self.config.prediction, x0, noise, t)
        mse = F.mse_loss(self.net(xt, t, None, context, mask).float(), target)
        return {"loss": mse, "mse": mse.detach()}

    # -- sampling -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def guided_output(self, x: Tensor, t: int, cond: tuple[Tensor, Tensor], null: tuple[Tensor, Tensor],
                      w: float) -> Tensor:
        """eps_u + w (eps_c - eps_u), running only the branch needed when w is 0 or 1."""
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.long)
        with autocast_context(x.device):
            if w == 1.0 or w == 0.0:
                ctx, mask = cond if w == 1.0 else null
                return self.net(x, tt, None, ctx, mask).float()
            both = self.net(torch.cat([x, x]), torch.cat([tt, tt]), None, torch.cat([null[0], cond[0]]),
                            torch.cat([null[1], cond[1]])).float()
        u, c = both.chunk(2)
        return u + w * (c - u)

    @torch.no_grad()
    def generate_images(self, ids: Tensor, guidance_scale: float, seed: int | None, scheduler: str | None = None,
                        steps: int | None = None, eta: float | None = None) -> Tensor:
        n = len(ids)
        sched = self.make_scheduler(scheduler, steps, eta)
        cond = self.text(ids.to(self.device))
        null = self.text(self.caption_tokenizer.null(n).to(self.device))
        g = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        x = torch.randn((n, *self.config.image_shape), generator=g, device=self.device)
        for t in sched.timesteps:
            x = sched.step(self.guided_output(x, t, cond, null, guidance_scale), t, x, g)
        return self.from_space(x)
