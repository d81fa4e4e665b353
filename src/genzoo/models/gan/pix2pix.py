"""pix2pix (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator for paired translation.

The generator maps a source image to a target image; the discriminator judges (source, output) pairs
patch by patch, so it enforces local realism while the L1 term (weight 100, as in the paper) keeps
the output close to the paired target. Data are `(source, target)` pairs: see `genzoo.data.paired`.

For colourisation (a grey source that is the target's luminance) the generator predicts only the chroma
and the output keeps the source as its luminance, as the paper's colourisation runs did (L -> ab in Lab;
here Y -> IQ in YIQ, whose Y is exactly `photo_pairs`' grey): predicting all three channels, the net
must first relearn the grey image it was given, and within a CPU budget it stays below the plain grey
copy (benchmarks/pix2pix.py). The chroma head starts at zero, so at step 0 the output *is* the grey copy
and training can only move away from it where the losses say colour pays.

Sampling uses an exponential moving average of the generator's weights (`ema_decay`): the adversarial
game makes the live generator's colours swing from batch to batch, and the average is steadier.
Models saved before the EMA existed load with the EMA set to their generator.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.gan import losses
from genzoo.models.gan.optim import adam_pair, ema_update
from genzoo.models.style.images import yiq_to_rgb
from genzoo.protocols import ImageToImage
from genzoo.registry import register_model


@dataclass
class Pix2PixConfig:
    source_shape: tuple[int, int, int] = (1, 32, 32)
    target_channels: int = 3
    width: int = 32
    depth: int = 3
    dropout: float = 0.5
    source_skip: bool = True  # the source itself joins the last layer (see UNet)
    luminance_from_source: bool = False  # 1-channel source = the target's luminance; predict chroma only
    d_width: int = 32
    l1_weight: float = 100.0
    adv_weight: float = 1.0  # 0: the per-pixel regression baseline (same U-Net, L1 only, D never trained)
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.99  # generator weight EMA used by translate/sample; 0 turns it off


class UNet(nn.Module):
    """Encoder [Conv(4, /2), BN, LeakyReLU] x depth; decoder [ConvT(4, x2), BN, (Dropout), ReLU] + skips.

    The paper's U-Net has no full-resolution skip: its finest one is at half size, so the source's own
    pixels (the grey image's exact luminance, the edges' positions) must survive a stride-2 convolution.
    `source_skip` joins the source to the last decoder layer and ends with a 3x3 convolution there, so
    full-resolution detail of the source is one layer from the output (False: the paper's layout).
    """

    def __init__(
        self, in_ch: int, out_ch: int, width: int, depth: int, dropout: float, source_skip: bool = True
    ) -> None:
        super().__init__()
        self.multiple = 2**depth
        chans = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = in_ch
        for i, ch in enumerate(chans):
            self.down.append(
                nn.Sequential(
                    nn.Conv2d(prev, ch, 4, 2, 1),
                    nn.BatchNorm2d(ch) if i else nn.Identity(),
                    nn.LeakyReLU(0.2),
                )
            )
            prev = ch
        self.up = nn.ModuleList()
        for i in reversed(range(1, depth)):
            in_c = chans[i] if i == depth - 1 else 2 * chans[i]
            drop = nn.Dropout(dropout) if i >= depth - 2 and dropout > 0 else nn.Identity()
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(in_c, chans[i - 1], 4, 2, 1),
                    nn.BatchNorm2d(chans[i - 1]),
                    drop,
                    nn.ReLU(),
                )
            )
        last_in = 2 * chans[0] if depth > 1 else chans[0]
        self.fuse: nn.Module | None = None
        if source_skip:
            self.out = nn.Sequential(nn.ConvTranspose2d(last_in, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
            self.fuse = nn.Conv2d(width + in_ch, out_ch, 3, 1, 1)
        else:
            self.out = nn.ConvTranspose2d(last_in, out_ch, 4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        x = source = F.pad(x, (0, -w % m, 0, -h % m), mode="replicate")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = torch.cat([layer(x), skips.pop()], 1)
        x = self.out(x)
        if self.fuse is not None:
            x = self.fuse(torch.cat([x, source], 1))
        return torch.sigmoid(x)[:, :, :h, :w]

    def zero_head(self) -> None:
        """Zero the last layer, so every output starts at sigmoid(0) = 0.5 (its gradients stay non-zero)."""
        head = self.fuse if self.fuse is not None else self.out
        assert isinstance(head, (nn.Conv2d, nn.ConvTranspose2d))
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)


class PatchDiscriminator(nn.Module):
    """(source, image) -> a grid of real/fake logits, one per overlapping patch (PatchGAN)."""

    def __init__(self, in_ch: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 1, 1),
            nn.BatchNorm2d(4 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * width, 1, 3, 1, 1),
        )

    def forward(self, source: Tensor, image: Tensor) -> Tensor:
        return self.net(torch.cat([source, image], 1))


CHROMA_RANGE = torch.tensor([0.596, 0.523]).view(1, 2, 1, 1)  # the largest |I| and |Q| of RGB in [0, 1]


@register_model("pix2pix", "pix2pix paired translation: U-Net + PatchGAN; translate(source) / sample(n, source=...)")
class Pix2Pix(GenerativeModel, ImageToImage):
    """U-Net generator, PatchGAN discriminator, non-saturating adversarial loss + 100 x L1; EMA generator."""

    quick = Recipe("photo_pairs", {"width": 8, "depth": 2, "d_width": 8}, {"n": 16, "patch": 16})

    Config = Pix2PixConfig
    default_lr = 2e-4
    default_ema = None
    manual_optimization = True

    def __init__(self, config: Pix2PixConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c_in = config.source_shape[0]
        if config.luminance_from_source and (c_in, config.target_channels) != (1, 3):
            raise GenzooError(
                f"luminance_from_source needs a 1-channel source and an RGB target, "
                f"got {c_in} -> {config.target_channels} channels"
            )
        if not 0 <= config.ema_decay < 1:
            raise GenzooError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
        c_out = 2 if config.luminance_from_source else config.target_channels
        self.generator = UNet(c_in, c_out, config.width, config.depth, config.dropout, config.source_skip)
        if config.luminance_from_source:
            self.generator.zero_head()  # chroma 0 at step 0: the output starts as the grey copy
        self.discriminator = PatchDiscriminator(c_in + config.target_channels, config.d_width)
        self.generator_ema: UNet | None = None
        if config.ema_decay > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))  # drives the EMA warm-up
        self._register_load_state_dict_pre_hook(self._fill_ema_of_older_models)

    @staticmethod
    def _fill_ema_of_older_models(state: dict[str, Tensor], prefix: str, *_: Any) -> None:
        """A model saved before the EMA existed has none: start its EMA (and warm-up count) from its generator."""
        ema = f"{prefix}generator_ema."
        if any(k.startswith(ema) for k in state):
            return
        for key in [k for k in state if k.startswith(f"{prefix}generator.")]:
            state[ema + key[len(f"{prefix}generator.") :]] = state[key]
        state.setdefault(f"{prefix}ema_updates", torch.zeros((), dtype=torch.long))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "paired_image" or "source_shape" not in info.extra or info.shape is None:
            raise GenzooError(
                f"model 'pix2pix' needs paired image data (e.g. photo_pairs or paired); "
                f"{info.name!r} is {info.kind} data"
            )
        return {
            "source_shape": tuple(info.extra["source_shape"]),
            "target_channels": int(info.shape[0]),
            "luminance_from_source": info.extra.get("task") == "grey2colour",
        }

    def generate(self, source: Tensor, use_ema: bool = False) -> Tensor:
        """The generator's image in [0, 1]: RGB from its chroma and the source's luminance, or as it is.

        use_ema: run the weight-averaged generator (where kept) instead of the live one being trained.
        """
        g = self.generator_ema if use_ema and self.generator_ema is not None else self.generator
        out = g(source)
        if not self.config.luminance_from_source:
            return out
        chroma = (2 * out - 1) * CHROMA_RANGE.to(out)  # sigmoid -> I, Q in [-0.6, 0.6], near 0 at the start
        return yiq_to_rgb(torch.cat([source, chroma], 1)).clamp(0, 1)

    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        return adam_pair(self.generator, self.discriminator, lr, tuple(self.config.betas))

    def manual_step(
        self, batch: Any, optimizers: list[torch.optim.Optimizer], backward: Any
    ) -> dict[str, Tensor]:
        opt_g, opt_d = optimizers
        source, target = batch
        d = self.discriminator
        fake = self.generate(source)
        zero = torch.zeros((), device=fake.device)
        d_loss, d_norm, adv = zero, zero, zero
        if self.config.adv_weight > 0:
            d_loss = losses.d_loss("bce", d(source, target).float(), d(source, fake.detach()).float())
            opt_d.zero_grad(set_to_none=True)
            backward(d_loss)
            d_norm = losses.grad_norm(list(d.parameters()))
            opt_d.step()
            d.requires_grad_(False)
            try:
                adv = losses.g_loss("bce", d(source, fake).float())
            finally:
                d.requires_grad_(True)
        l1 = F.l1_loss(fake.float(), target.float())
        g_total = self.config.adv_weight * adv + self.config.l1_weight * l1
        opt_g.zero_grad(set_to_none=True)
        backward(g_total)
        g_norm = losses.grad_norm(list(self.generator.parameters()))
        opt_g.step()
        self._update_ema()
        return {
            "loss": g_total.detach(),
            "d_loss": d_loss.detach(),
            "g_adv": adv.detach(),
            "l1": l1.detach(),
            "d_grad_norm": d_norm,
            "g_grad_norm": g_norm,
        }

    @torch.no_grad()
    def _update_ema(self) -> None:
        """The generator EMA's step (`ema_update`: warm-up, batch-norm statistics from the live generator)."""
        if self.generator_ema is None:
            return
        ema_update(self.generator_ema, self.generator, self.config.ema_decay, float(self.ema_updates))
        self.ema_updates += 1

    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Validation objective: L1 between the translation `translate` gives (EMA weights) and the target."""
        source, target = batch
        with torch.no_grad():
            return {"loss": F.l1_loss(self.generate(source, use_ema=True), target)}

    @torch.no_grad()
    def translate(self, source: Tensor) -> Tensor:
        """(N, C_src, H, W) or (C_src, H, W) in [0, 1] -> translated images in [0, 1] (any H, W)."""
        single = source.ndim == 3
        x = source.unsqueeze(0) if single else source
        c = self.config.source_shape[0]
        if x.ndim != 4 or x.shape[1] != c:
            raise GenzooError(
                f"pix2pix expects source images with {c} channels, got shape {tuple(source.shape)}"
            )
        out = self.generate(x.to(self.device).float(), use_ema=True)
        return out[0] if single else out

    @torch.no_grad()
    def sample(self, n: int, source: Tensor | None = None) -> Tensor:
        if source is None:
            raise GenzooError("pix2pix samples are conditioned on a source image: sample(n, source=images)")
        return self.translate(source[:n])

    def sample_grid(self, n: int = 64) -> Tensor | None:
        return None
