"""GANs: `dcgan`, `wgan_gp`, `cgan` (class-conditional), `srgan` (x4 super-resolution), `pix2pix`.

No re-exports: import a model from its own module, `genzoo.models.gan.<model>`.
"""
