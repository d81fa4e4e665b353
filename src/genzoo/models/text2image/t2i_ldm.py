"""Text-to-image latent diffusion (Stable-Diffusion-style) in a VQ-VAE's latent space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.text2image.common import captioned_fields
from genzoo.models.text2image.t2i_diffusion import TextDiffusion, TextDiffusionConfig
from genzoo.registry import register_model


@dataclass
class LatentTextDiffusionConfig(TextDiffusionConfig):
    image_shape: tuple[int, int, int] = (16, 8, 8)  # filled from latent_of's latent grid
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2)
    attn_resolutions: tuple[int, ...] = (8, 4)
    clip_sample: bool = False  # latents are unbounded


@register_model(
    "t2i_ldm", "text-to-image latent diffusion (Stable-Diffusion-style) on a saved vqvae's latent grid (latent_of=RUN)"
)
class LatentTextDiffusion(TextDiffusion):
    """`t2i_diffusion` on the continuous latent grid of a trained vqvae; decodes through its codebook."""

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
        runs={
            "latent_of": (
                "vqvae",
                Recipe(
                    "captioned_digits",
                    {"hidden": 8, "codebook_size": 16, "code_dim": 4, "downsamples": 2},
                    {"n": 128, "size": 16, "layouts": "single"},
                ),
            )
        },
    )

    Config = LatentTextDiffusionConfig

    def __init__(self, config: LatentTextDiffusionConfig, data_info: DataInfo | None = None) -> None:
        if not config.latent_of:
            raise GenzooError("t2i_ldm needs latent_of=RUN: the directory of a trained vqvae")
        from genzoo.hub import load

        auto = load(config.latent_of)
        if not hasattr(auto, "encode_latent") or not hasattr(auto, "grid"):
            raise GenzooError(f"{config.latent_of} holds a {auto.model_name!r}; t2i_ldm needs a vqvae run")
        auto.requires_grad_(False).eval()
        config.image_shape = (int(auto.config.code_dim), *map(int, auto.grid))  # the latent grid, not pixels
        super().__init__(config, data_info)
        object.__setattr__(self, "autoencoder", auto)  # not trained, not saved: reloaded from latent_of
        self.register_buffer("latent_scale", torch.zeros(()))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image":
            raise GenzooError(f"t2i_ldm needs image data; {info.name!r} is {info.kind} data")
        return captioned_fields(info)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        self.autoencoder._apply(fn, recurse)
        return super()._apply(fn, recurse)

    @torch.no_grad()
    def to_space(self, images: Tensor) -> Tensor:
        z = self.autoencoder.encode_latent(images.to(self.device)).float().view(len(images), *self.config.image_shape)
        if float(self.latent_scale) == 0:  # LDM's scale factor: the latents' std over the first batch
            self.latent_scale.fill_(float(z.std()) + 1e-8)
        return z / self.latent_scale

    @torch.no_grad()
    def from_space(self, z: Tensor) -> Tensor:
        if float(self.latent_scale) == 0:
            raise GenzooError("this t2i_ldm has not been trained yet (its latent scale is unset)")
        return self.autoencoder.decode_latent((z * self.latent_scale).flatten(1)).float().clamp(0, 1)
