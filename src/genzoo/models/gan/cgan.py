"""Class-conditional GAN: label embedding in G, projection discriminator (Miyato & Koyama 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.gan.gan import GAN, GANConfig
from genzoo.registry import register_model


@dataclass
class CGANConfig(GANConfig):
    num_classes: int = 10


@register_model(
    "cgan", "class-conditional GAN: projection discriminator, spectral norm, hinge loss; sample(n, labels=...)"
)
class CGAN(GAN):
    """Class-conditional: G sees a label embedding, D a class projection (Miyato & Koyama 2018); SN, hinge."""

    quick = Recipe("digits", {"latent_dim": 8, "g_width": 8, "d_width": 8, "upsamples": 1})

    Config = CGANConfig

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if not info.num_classes:
            raise GenzooError(f"model 'cgan' needs labelled data; {info.name!r} has no classes")
        return {**super().config_from_data(info), "num_classes": info.num_classes}
