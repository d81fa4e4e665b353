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

The denoising loop, guidance and training objective are the diffusion pipeline's
(`genzoo.models.diffusion.pipeline`), the samplers diffusion's own (`schedulers.py`): any of DDPM, DDIM,
DPM-Solver++ at any number of steps. This file is the text conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.captions import WORDS
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.ddpm import DDPMConfig, UNetDiffusion
from genzoo.models.diffusion.pipeline import drop_condition
from genzoo.models.text2image.common import CaptionConditioned, TextEncoder, captioned_fields, reword_captions
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
    reword_captions: bool = False  # caption augmentation (`common.reword_captions`)
    guidance_scale: float = 3.0
    sample_steps: int = 25
    latent_of: str = ""  # t2i_ldm: a trained vqvae run whose latent grid the diffusion runs on


@register_model(
    "t2i_diffusion",
    "text-to-image diffusion (Imagen-style): text encoder + cross-attention U-Net, classifier-free guidance",
)
class TextDiffusion(CaptionConditioned, UNetDiffusion):
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

    # -- conditioning: the caption's token features, cross-attended to ----------------------------------
    def denoiser(self, x: Tensor, t: Tensor, cond: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The U-Net's output; cond is the text encoder's (features, key mask), None for no text at all."""
        context, mask = (None, None) if cond is None else cond
        return self.net(x, t, None, context, mask)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        images, ids = batch
        self.check_input(images, "training image")
        x0 = self.to_space(images)
        if self.config.reword_captions:
            ids = reword_captions(ids.cpu(), self.caption_tokenizer)
        ids = ids.to(x0.device)
        ids = drop_condition(ids, self.caption_tokenizer.null(len(ids)).to(ids.device), self.config.caption_dropout)
        return self.diffusion_loss(x0, self.text(ids))

    @torch.no_grad()
    def generate_images(self, ids: Tensor, guidance_scale: float, seed: int | None, scheduler: str | None = None,
                        steps: int | None = None, eta: float | None = None) -> Tensor:
        n = len(ids)
        cond = self.text(ids.to(self.device))
        null = self.text(self.caption_tokenizer.null(n).to(self.device))
        g = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        x = self.denoise((n, *self.sample_shape), cond, null=null, guidance_scale=guidance_scale,
                         scheduler=scheduler, steps=steps, eta=eta, generator=g)
        return self.from_space(x)
