"""DCGAN (Radford et al. 2016), the `gan` base with its original recipe."""

from __future__ import annotations

from genzoo.base import Recipe
from genzoo.models.gan.gan import GAN
from genzoo.registry import register_model


@register_model("dcgan", "DCGAN (Radford et al. 2016): conv G/D, BatchNorm, non-saturating loss")
class DCGAN(GAN):
    """The DCGAN recipe: transposed-conv generator, strided-conv discriminator, Adam(2e-4, beta1 0.5)."""

    quick = Recipe("digits", {"latent_dim": 8, "g_width": 8, "d_width": 8, "upsamples": 1})
