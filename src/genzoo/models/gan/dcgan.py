"""DCGAN (Radford et al. 2016), the `gan` base with its original recipe."""

from __future__ import annotations

from genzoo.base import Recipe
from genzoo.models.gan.gan import GAN
from genzoo.registry import register_model


@register_model("dcgan", "DCGAN (Radford et al. 2016): conv G/D, BatchNorm, non-saturating loss, Adam(5e-4, beta1 0.5)")
class DCGAN(GAN):
    """The DCGAN recipe: transposed-conv generator, strided-conv discriminator with BatchNorm, non-saturating
    loss, Adam(beta1 0.5), generator EMA. The paper's lr 2e-4 is raised to 5e-4 and the widths set to 32: on
    28x28 digits, one CPU thread, 5e-4 reached a given classifier-FID in under half the batches, and width
    64 was 2.3x slower per batch and behind at equal wall-clock (measured with benchmarks/gan.py).
    """

    quick = Recipe("digits", {"latent_dim": 8, "g_width": 8, "d_width": 8, "upsamples": 1})
