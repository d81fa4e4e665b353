"""Class-conditional DDPM: `ddpm` with labels from the data and classifier-free guidance on by default."""

from __future__ import annotations

from typing import Any

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.ddpm import DDPM
from genzoo.registry import register_model


@register_model("cddpm", "class-conditional diffusion with label dropout; sample(n, labels=..., guidance_scale=...)")
class ConditionalDDPM(DDPM):
    """`ddpm` with `num_classes` taken from the data and a guidance scale of 2 by default."""

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

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if not info.num_classes:
            raise GenzooError(f"model 'cddpm' needs labelled data; {info.name!r} has no classes")
        return {**super().config_from_data(info), "num_classes": info.num_classes, "guidance_scale": 2.0}
