"""Class-conditional VAE: encoder and decoder both see the label."""

from __future__ import annotations

from typing import Any

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.vae.vae import ConvVAE
from genzoo.protocols import ClassConditional
from genzoo.registry import register_model


@register_model("cvae", "class-conditional VAE: sample(n, labels=...)")
class CVAE(ConvVAE, ClassConditional):
    """A VAE whose encoder and decoder both see the class label (one-hot)."""

    quick = Recipe("digits", {"hidden": 8, "latent_dim": 4})

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if not info.num_classes:
            raise GenzooError(f"model 'cvae' needs labelled data; {info.name!r} has no classes")
        return {**super().config_from_data(info), "num_classes": info.num_classes}
