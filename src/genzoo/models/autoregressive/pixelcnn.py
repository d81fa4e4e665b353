"""PixelCNN (van den Oord et al. 2016a) and Gated PixelCNN (van den Oord et al. 2016b).

p(x) = prod_i p(x_i | x_<i) in raster order, so `log_prob` is exact. Each pixel's conditional is a
softmax over the intensity levels ("categorical": bits/dim on 8-bit images) or a Bernoulli ("bernoulli":
dynamically binarised training, the usual binarised-MNIST NLL). The channels of one pixel are modelled
as independent given the previous pixels (the R->G->B split inside a pixel is left out; the likelihood
stays exact). PixelCNN's stacked masked convolutions have a blind spot; Gated PixelCNN's vertical and
horizontal stacks do not, and both accept a class label.
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
from genzoo.models.autoregressive.common import (
    check_data,
    context_vector,
    image_levels,
    prepare_input,
    random_shift,
)
from genzoo.protocols import ClassConditional, Completer, Likelihood, Sampler
from genzoo.registry import register_model

LIKELIHOODS = ("categorical", "bernoulli")


class MaskedConv2d(nn.Conv2d):
    """Convolution whose kernel only sees rows above the centre, and in the centre row the columns to the
    left (plus the centre itself when `include_centre`): PixelCNN's masks A and B."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], include_centre: bool) -> None:
        kh, kw = kernel
        super().__init__(cin, cout, kernel, padding=(kh // 2, kw // 2))
        mask = torch.zeros(kh, kw)
        mask[: kh // 2] = 1
        mask[kh // 2, : kw // 2 + (1 if include_centre else 0)] = 1
        self.register_buffer("mask", mask[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class CausalConv2d(nn.Conv2d):
    """The gated stacks' causal convolutions, made causal by one-sided padding instead of a mask, so the
    masked kernel's zero rows (or columns) are neither stored nor multiplied: a 5x5 vertical-stack kernel
    is 3x5 (2x5 in the first layer) and a 1x5 horizontal one 1x3 (1x2), 40-60% of a masked conv's work.

    `vertical`: output row i sees rows i - k//2 .. i (.. i - 1 without the centre), all columns within
    k//2; otherwise (a horizontal-stack convolution) the same row, columns j - k//2 .. j (.. j - 1).
    """

    def __init__(self, cin: int, cout: int, kernel: int, include_centre: bool, vertical: bool) -> None:
        reach = kernel // 2 + (1 if include_centre else 0)
        super().__init__(cin, cout, (reach, kernel) if vertical else (1, reach))
        half = kernel // 2
        self.pad = (half, half, half, 0) if vertical else (half, 0, 0, 0)  # left, right, top, bottom
        self.vertical, self.trim = vertical, not include_centre

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(F.pad(x, self.pad))
        if not self.trim:
            return y
        # without the centre the output is one row (column) too long; its last one would see the centre
        return y[..., :-1, :] if self.vertical else y[..., :-1]


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, 1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer: the vertical stack sees only rows strictly above; the horizontal stack sees the
    pixels to the left in the current row plus the vertical stack, so nothing above-right is missed."""

    def __init__(self, cin: int, channels: int, kernel: int, first: bool, cond_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.first = first
        self.drop = nn.Dropout(dropout)
        # first layer: vertical rows < i, horizontal cols < j. Later: their own features up to (and at) i / j.
        self.v_conv = CausalConv2d(cin, 2 * channels, kernel, include_centre=not first, vertical=True)
        self.h_conv = CausalConv2d(cin, 2 * channels, kernel, include_centre=not first, vertical=False)
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.cond = nn.Linear(cond_dim, 4 * channels) if cond_dim else None

    def forward(self, v: Tensor, h: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        v_feat = self.v_conv(v)
        h_feat = self.h_conv(h) + self.v_to_h(v_feat)
        if self.cond is not None and cond is not None:
            cv, ch = self.cond(cond)[:, :, None, None].chunk(2, 1)
            v_feat, h_feat = v_feat + cv, h_feat + ch
        h_new = self.h_out(self.drop(_gate(h_feat)))
        return _gate(v_feat), h_new if self.first else h + h_new


class ResidualMaskedBlock(nn.Module):
    """PixelCNN residual block: 1x1 down, masked 3x3 (centre included), 1x1 up."""

    def __init__(self, channels: int, cond_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.down = nn.Conv2d(2 * channels, channels, 1)
        self.conv = MaskedConv2d(channels, channels, (3, 3), include_centre=True)
        self.up = nn.Conv2d(channels, 2 * channels, 1)
        self.cond = nn.Linear(cond_dim, channels) if cond_dim else None

    def forward(self, x: Tensor, cond: Tensor | None) -> Tensor:
        h = self.conv(F.relu(self.down(F.relu(x))))
        if self.cond is not None and cond is not None:
            h = h + self.cond(cond)[:, :, None, None]
        return x + self.up(self.drop(F.relu(h)))


@dataclass
class PixelCNNConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    channels: int = 64
    num_layers: int = 5
    kernel: int = 3  # gated stacks / residual blocks; PixelCNN's first layer is 7x7
    likelihood: str = "categorical"  # or "bernoulli" (dynamically binarised)
    intensity_levels: int = 256
    num_classes: int = 0
    dropout: float = 0.0  # on each layer's new features (residual / horizontal-stack branch), training only
    augment_shift: int = 0  # training images moved by up to this many pixels (0: off)


class PixelModel(GenerativeModel, Sampler, ClassConditional, Likelihood, Completer):
    """What PixelCNN and Gated PixelCNN share: likelihoods, exact log_prob, sampling and completion."""

    Config = PixelCNNConfig
    #: what `config_from_data` fills in on image data unless the caller says otherwise: the mnist5k recipe
    #: of benchmarks/pixelcnn.py (a CPU-minutes budget on 4,000 images), not the papers' GPU-days networks
    image_defaults: dict[str, Any] = {}
    default_lr = 1e-3
    # bf16 autocast ran the 10 x 32 Gated PixelCNN's step 1.7x faster on an AMX CPU in a short timing (2.1x
    # with channels-last weights) and trained it to 1.107 bits/dim; "auto" still measures before choosing it
    default_precision = "bf16-mixed"

    def __init__(self, config: PixelCNNConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.likelihood not in LIKELIHOODS:
            raise GenzooError(f"unknown likelihood {config.likelihood!r}; choose one of {LIKELIHOODS}")
        if config.kernel < 3 or config.kernel % 2 == 0:
            raise GenzooError(f"kernel must be odd and at least 3, got {config.kernel}")
        if not 0 <= config.dropout < 1 or config.augment_shift < 0:
            raise GenzooError(
                f"dropout must lie in [0, 1) and augment_shift be at least 0, got {config.dropout}, "
                f"{config.augment_shift}"
            )
        c = config.image_shape[0]
        self.per_channel = config.intensity_levels if config.likelihood == "categorical" else 1
        self.build(c, config.channels, c * self.per_channel, config.num_classes)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.config.image_shape)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or len(info.shape) != 3:
            raise GenzooError(f"model {cls.model_name!r} needs image data; {info.name!r} is {info.kind} data")
        return {**cls.image_defaults, "image_shape": tuple(info.shape), "intensity_levels": image_levels(info)}

    def build(self, cin: int, channels: int, cout: int, cond_dim: int) -> None:
        raise NotImplementedError

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        raise NotImplementedError

    # -- likelihood ---------------------------------------------------------------------------------------
    def _targets(self, x: Tensor, dynamic: bool) -> Tensor:
        """Integer levels (categorical) or 0/1 pixels (bernoulli: sampled in training, else thresholded)."""
        if self.config.likelihood == "categorical":
            return torch.round(x.clamp(0, 1) * (self.config.intensity_levels - 1))
        return torch.bernoulli(x.clamp(0, 1)) if dynamic else (x > 0.5).float()

    def _net_input(self, t: Tensor) -> Tensor:
        top = self.config.intensity_levels - 1 if self.config.likelihood == "categorical" else 1
        return t * (2.0 / top) - 1.0

    def _logits(self, t: Tensor, cond: Tensor | None) -> Tensor:
        n, c, h, w = t.shape
        return self.network(self._net_input(t), cond).view(n, c, self.per_channel, h, w)

    def _log_prob_targets(self, t: Tensor, cond: Tensor | None) -> Tensor:
        logits = self._logits(t, cond)
        if self.config.likelihood == "categorical":
            lp = -F.cross_entropy(logits.movedim(2, 1), t.long(), reduction="none")
        else:
            lp = -F.binary_cross_entropy_with_logits(logits[:, :, 0], t, reduction="none")
        return lp.flatten(1).sum(1)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, cond = prepare_input(self, batch)
        if self.training:
            x = random_shift(x, self.config.augment_shift)
        nll = -self._log_prob_targets(self._targets(x, dynamic=self.training), cond).mean()
        d = math.prod(self.data_shape)
        return {"loss": nll / d, "nll": nll, "bits_per_dim": nll.detach() / (d * math.log(2))}

    @torch.no_grad()
    def log_prob(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Exact log P(x) in nats of the discrete image (its levels; binarised at 0.5 for "bernoulli")."""
        x = check_data(self, x)
        return self._log_prob_targets(self._targets(x, dynamic=False), context_vector(self, labels, len(x)))

    # -- sampling -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | int | None = None, temperature: float = 1.0) -> Tensor:
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        x = torch.zeros(n, *self.data_shape, device=self.device)
        observed = torch.zeros_like(x, dtype=torch.bool)
        return self.complete(x, observed, labels=self.sample_labels(labels, n), temperature=temperature)

    @torch.no_grad()
    def complete(
        self, x: Tensor, observed: Tensor, labels: Tensor | int | None = None, temperature: float = 1.0
    ) -> Tensor:
        """Sample the pixels where `observed` is False, in raster order, keeping the observed ones.

        Exact conditional sampling when the observed pixels precede the missing ones in raster order
        (e.g. the top half is given); images come back in [0, 1].
        """
        x = check_data(self, x)
        observed = observed.to(self.device).bool().expand_as(x)
        cond = context_vector(self, labels, len(x))
        t = self._targets(x, dynamic=False)
        top = self.config.intensity_levels - 1 if self.config.likelihood == "categorical" else 1
        _, _, h, w = x.shape
        for i in range(h):
            for j in range(w):
                if bool(observed[:, :, i, j].all()):
                    continue
                logits = self._logits(t, cond)[:, :, :, i, j] / temperature  # (N, C, P)
                if self.config.likelihood == "categorical":
                    new = torch.distributions.Categorical(logits=logits).sample().float()
                else:
                    new = torch.bernoulli(torch.sigmoid(logits[..., 0]))
                t[:, :, i, j] = torch.where(observed[:, :, i, j], t[:, :, i, j], new)
        return t / top


@register_model("pixelcnn", "PixelCNN: masked convolutions (mask A then B), exact likelihood")
class PixelCNN(PixelModel):
    """Original PixelCNN: a 7x7 mask-A convolution, residual blocks of mask-B 3x3 convolutions, 1x1 head."""

    quick = Recipe("digits", {"channels": 8, "num_layers": 1})
    image_defaults = {"channels": 24, "num_layers": 5}

    def build(self, cin: int, channels: int, cout: int, cond_dim: int) -> None:
        self.first = MaskedConv2d(cin, 2 * channels, (7, 7), include_centre=False)
        self.first_cond = nn.Linear(cond_dim, 2 * channels) if cond_dim else None
        self.blocks = nn.ModuleList(
            [ResidualMaskedBlock(channels, cond_dim, self.config.dropout) for _ in range(self.config.num_layers)]
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(2 * channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, cout, 1)
        )

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        h = self.first(x)
        if self.first_cond is not None and cond is not None:
            h = h + self.first_cond(cond)[:, :, None, None]
        for block in self.blocks:
            h = block(h, cond)
        return self.head(h)
