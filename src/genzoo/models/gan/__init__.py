"""GANs: `dcgan`, `wgan_gp`, `cgan` (class-conditional), `srgan` (x4 super-resolution), `pix2pix`."""

from genzoo.models.gan import gan, pix2pix, srgan  # noqa: F401  (importing registers the models)
