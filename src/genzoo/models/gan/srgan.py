"""SRGAN (Ledig et al. 2017), small: a residual x4 super-resolution generator, pixel + adversarial loss.

Training data are high-resolution patches (e.g. `photos`); the model makes each low-resolution input itself
with an antialiased bicubic x1/4 downscale, so any image dataset works. The generator predicts a residual
over bicubic upsampling, which lets a small CPU budget start from bicubic quality instead of from noise.
The first `pretrain_batches` batches are pixel-loss only (the SRResNet phase of the paper); the paper's
VGG feature loss is left out because VGG weights cannot be downloaded here.

The head and output convolutions are 3x3 rather than the paper's 9x9 (as in EDSR): the 9x9 output conv at
full resolution cost more than all residual blocks together, and on a CPU budget those FLOPs buy more PSNR
as training steps.

Every convolution pads by replicating the border (`padding`, default "replicate") rather than with zeros:
a 32x32 training patch is only 8x8 at the input, so a quarter of its pixels sit next to a border, and zero
padding there reads as a dark frame that the network must learn to undo. `upscale(self_ensemble=True)`
averages the outputs over the 8 flips/transposes of the input (EDSR's "x8" geometric self-ensemble):
8x the inference cost for a steadier estimate, at no training cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.gan import losses
from genzoo.models.gan.nets import ConvDiscriminator
from genzoo.models.gan.optim import adam_pair
from genzoo.nn.resample import downscale
from genzoo.protocols import Upscaler
from genzoo.registry import register_model


@dataclass
class SRGANConfig:
    image_shape: tuple[int, int, int] = (3, 32, 32)  # high-resolution training patches
    scale: int = 4
    width: int = 48
    blocks: int = 6
    d_width: int = 32
    pixel_loss: str = "l1"
    adv_weight: float = 1e-3
    pretrain_batches: int = 100
    betas: tuple[float, float] = (0.9, 0.999)
    padding: str = "replicate"  # the generator's convolution padding: "replicate" or "zeros"


PADDINGS = ("replicate", "zeros")


def _conv(cin: int, cout: int, padding: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding)


class ResidualBlock(nn.Module):
    """conv-PReLU-conv plus identity: SRResNet's block without BatchNorm (EDSR/ESRGAN: BN hurts SR)."""

    def __init__(self, ch: int, padding: str = "replicate") -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch, padding), nn.PReLU(ch), _conv(ch, ch, padding))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    """head -> residual blocks (+ skip) -> log2(scale) x [conv, PixelShuffle(2), PReLU] -> conv, + bicubic.

    The output conv starts at zero, so an untrained generator is exactly bicubic upsampling.
    """

    def __init__(self, channels: int, width: int, blocks: int, scale: int, padding: str = "replicate") -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(_conv(channels, width, padding), nn.PReLU(width))
        residual = [ResidualBlock(width, padding) for _ in range(blocks)]
        self.blocks = nn.Sequential(*residual, _conv(width, width, padding))
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [_conv(width, 4 * width, padding), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*up, _conv(width, channels, padding))
        nn.init.zeros_(self.up[-1].weight)  # start exactly at bicubic
        nn.init.zeros_(self.up[-1].bias)

    def forward(self, lowres: Tensor) -> Tensor:
        h = self.head(lowres)
        base = F.interpolate(lowres, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.up(h + self.blocks(h))


@register_model("srgan", "SRGAN x4 super-resolution: upscale(lowres) / sample(n, lowres=...)")
class SRGAN(GenerativeModel, Upscaler):
    """Residual x4 generator + conv discriminator; pixel (L1) + adversarial loss."""

    quick = Recipe("photos", {"width": 8, "blocks": 1, "d_width": 8, "pretrain_batches": 1}, {"patch": 16, "n": 32})

    Config = SRGANConfig
    default_lr = 2e-4
    default_ema = None
    manual_optimization = True

    def __init__(self, config: SRGANConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c, h, w = config.image_shape
        if config.scale < 2 or config.scale & (config.scale - 1):
            raise GenzooError(f"scale must be a power of 2 (2, 4, 8), got {config.scale}")
        if h % config.scale or w % config.scale:
            raise GenzooError(f"patch size {h}x{w} must be divisible by the scale {config.scale}")
        if config.pixel_loss not in ("l1", "mse"):
            raise GenzooError(f"pixel_loss must be 'l1' or 'mse', got {config.pixel_loss!r}")
        if config.padding not in PADDINGS:
            raise GenzooError(f"padding must be one of {PADDINGS}, got {config.padding!r}")
        self.generator = SRGenerator(c, config.width, config.blocks, config.scale, config.padding)
        self.discriminator = ConvDiscriminator((c, h, w), config.d_width, 3, norm="none", spectral=True)
        self.register_buffer("batches", torch.zeros((), dtype=torch.long))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or len(info.shape) != 3:
            raise GenzooError(f"model 'srgan' needs image data; {info.name!r} is {info.kind} data")
        return {"image_shape": tuple(info.shape)}

    def _pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(pred, target) if self.config.pixel_loss == "l1" else F.mse_loss(pred, target)

    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        return adam_pair(self.generator, self.discriminator, lr, tuple(self.config.betas))

    def manual_step(self, batch: Any, optimizers: list[torch.optim.Optimizer], backward: Any) -> dict[str, Tensor]:
        opt_g, opt_d = optimizers
        hr = batch[0] if isinstance(batch, (list, tuple)) else batch
        lr_img = downscale(hr, self.config.scale)
        adversarial = int(self.batches) >= self.config.pretrain_batches and self.config.adv_weight > 0
        self.batches += 1
        parts: dict[str, Tensor] = {}
        sr = self.generator(lr_img)
        if adversarial:
            d = self.discriminator
            d_loss = losses.d_loss("bce", d(hr).float(), d(sr.detach()).float())
            opt_d.zero_grad(set_to_none=True)
            backward(d_loss)
            parts["d_grad_norm"] = losses.grad_norm(list(d.parameters()))
            opt_d.step()
            parts["d_loss"] = d_loss.detach()
        pixel = self._pixel(sr.float(), hr.float())
        g_total = pixel
        if adversarial:
            self.discriminator.requires_grad_(False)
            try:
                adv = losses.g_loss("bce", self.discriminator(sr).float())
            finally:
                self.discriminator.requires_grad_(True)
            g_total = pixel + self.config.adv_weight * adv
            parts["g_adv"] = adv.detach()
        opt_g.zero_grad(set_to_none=True)
        backward(g_total)
        parts["g_grad_norm"] = losses.grad_norm(list(self.generator.parameters()))
        opt_g.step()
        parts.update(loss=g_total.detach(), pixel=pixel.detach())
        return parts

    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Validation objective: the pixel loss of the x`scale` reconstruction."""
        hr = batch[0] if isinstance(batch, (list, tuple)) else batch
        with torch.no_grad():
            return {"loss": self._pixel(self.generator(downscale(hr, self.config.scale)), hr)}

    @torch.no_grad()
    def upscale(self, lowres: Tensor, self_ensemble: bool = False) -> Tensor:
        """(N, C, h, w) or (C, h, w) in [0, 1] -> x`scale` images in [0, 1]; any h, w (convolutional).

        self_ensemble: average over the 8 flips/transposes of the input, each mapped back (8x slower).
        """
        single = lowres.ndim == 3
        x = lowres.unsqueeze(0) if single else lowres
        c = self.config.image_shape[0]
        if x.ndim != 4 or x.shape[1] != c:
            raise GenzooError(f"upscale expects images with {c} channels as (N, {c}, H, W), got {tuple(lowres.shape)}")
        x = x.to(self.device).float()
        if not self_ensemble:
            out = self.generator(x)
        else:
            out = sum(_undo(self.generator(_symmetry(x, k)), k) for k in range(8)) / 8
        out = out.clamp(0, 1)
        return out[0] if single else out

    @torch.no_grad()
    def sample(self, n: int, lowres: Tensor | None = None) -> Tensor:
        """Super-resolve `lowres` (the condition); an SRGAN draws nothing unconditionally."""
        if lowres is None:
            raise GenzooError("srgan samples are conditioned on an image: sample(n, lowres=images)")
        return self.upscale(lowres[:n])

    def sample_grid(self, n: int = 64) -> Tensor | None:
        return None


def _symmetry(x: Tensor, k: int) -> Tensor:
    """The k-th of the square's 8 symmetries (bits: flip W, flip H, transpose)."""
    x = x.flip(-1) if k & 1 else x
    x = x.flip(-2) if k & 2 else x
    return x.transpose(-1, -2) if k & 4 else x


def _undo(x: Tensor, k: int) -> Tensor:
    """The inverse of `_symmetry(., k)`: the same steps in reverse order."""
    x = x.transpose(-1, -2) if k & 4 else x
    x = x.flip(-2) if k & 2 else x
    return x.flip(-1) if k & 1 else x
