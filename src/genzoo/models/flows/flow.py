"""`FlowModel`, what RealNVP, Glow, MAF and NSF (each in its own module) share, on vectors and images.

It gives a standard-normal base, an invertible stack built by the subclass, exact
`log_prob`, `sample`, `encode`/`decode`, and optional conditioning (class one-hot and/or a context vector).

Images: pixels k in {0..L-1} are dequantised y = (k + u) / L with u ~ U(0, 1)^D (or u from a learned
q(u | x), `dequantization="variational"`, whose log q is subtracted), mapped to logit space
w = logit(a + (1 - 2a) y) (log-det counted), and `log_prob` returns log p(y) - D log L — a lower bound on
the log-probability of the discrete image, so `bits_per_dim` of it is the number the papers report
(the [0, 255] -> [0, 1] scaling costs log2(256) = 8 bits per dimension; see `metrics.likelihood`).
RealNVP and Glow use convolutional multi-scale architectures on images; MAF and NSF flatten images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.base import GenerativeModel
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.metrics.likelihood import bits_per_dim
from genzoo.models.autoregressive.common import (
    check_data,
    context_vector,
    image_levels,
    prepare_input,
    random_shift,
)
from genzoo.models.flows.dequantization import VariationalDequantizer
from genzoo.models.flows.layers import FlowLayer, Squeeze
from genzoo.protocols import ClassConditional, LatentModel, Likelihood, Sampler

LOG_2PI = math.log(2 * math.pi)


class Chain(FlowLayer):
    """Layers applied in order; log-determinants add up."""

    def __init__(self, layers: list[FlowLayer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(len(x))
        for layer in self.layers:
            x, ld = layer(x, context)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z, context)
        return z


class SplitPrior(nn.Module):
    """Glow's learned prior for the channels a level factors out: z ~ N(mu(h), exp(log_s(h))^2), read off
    the channels h that go deeper by a zero-initialised 3x3 convolution (so it starts as N(0, 1)).

    Written as a flow step, eps = (z - mu(h)) / exp(log_s(h)), so the model's standard-normal base on eps
    is exactly that conditional prior, and sampling at temperature T draws z = mu + exp(log_s) T eps, as the
    Glow paper does. Without it the factored-out half is independent noise given the rest (on mnist5k it
    lifted sample precision 0.69 -> 0.73 at equal bits/dim: benchmarks/pixel_samples.py).
    """

    def __init__(self, kept: int, out: int) -> None:
        super().__init__()
        self.net = nn.Conv2d(kept, 2 * out, 3, padding=1)
        nn.init.zeros_(self.net.weight)
        nn.init.zeros_(self.net.bias)

    def params(self, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_s = self.net(h).chunk(2, 1)
        return mu, torch.tanh(log_s / 3) * 3  # bounded log-scale: a step that is never near-singular

    def forward(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_s = self.params(h)
        return (z - mu) * torch.exp(-log_s), -log_s.flatten(1).sum(1)

    def inverse(self, eps: Tensor, h: Tensor) -> Tensor:
        mu, log_s = self.params(h)
        return mu + eps * torch.exp(log_s)


class MultiScale(FlowLayer):
    """Multi-scale image flow (Dinh et al. 2017): after each level but the last, half the channels leave
    as latents and the rest go deeper. Forward returns the flat latent (N, D). The factored-out latents
    have a standard-normal prior (RealNVP), or with `split_prior` Glow's learned one (`SplitPrior`)."""

    def __init__(self, levels: list[Chain], shape: tuple[int, int, int], split_prior: bool = False) -> None:
        super().__init__()
        self.levels = nn.ModuleList(levels)
        self.shapes: list[tuple[int, ...]] = []  # shape of each latent piece, in forward order
        priors = []
        c, h, w = shape
        for level in levels:
            for layer in level.layers:
                if isinstance(layer, Squeeze):
                    c, h, w = c * 4, h // 2, w // 2
            if level is not levels[-1]:
                self.shapes.append((c - c // 2, h, w))
                if split_prior:
                    priors.append(SplitPrior(c // 2, c - c // 2))
                c = c // 2
        self.shapes.append((c, h, w))
        self.priors = nn.ModuleList(priors) if split_prior else None

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, logdet = [], x.new_zeros(len(x))
        for i, level in enumerate(self.levels):
            x, ld = level(x, context)
            logdet = logdet + ld
            if i < len(self.levels) - 1:
                keep = x.shape[1] // 2
                z, x = x[:, keep:], x[:, :keep]
                if self.priors is not None:
                    z, ld = self.priors[i](z, x)
                    logdet = logdet + ld
                out.append(z.flatten(1))
        out.append(x.flatten(1))
        return torch.cat(out, 1), logdet

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        sizes = [math.prod(s) for s in self.shapes]
        pieces = [p.view(len(z), *s) for p, s in zip(torch.split(z, sizes, 1), self.shapes, strict=True)]
        x = pieces[-1]
        for i in range(len(self.levels) - 1, -1, -1):
            if i < len(self.levels) - 1:
                z = pieces[i] if self.priors is None else self.priors[i].inverse(pieces[i], x)
                x = torch.cat([x, z], 1)
            x = self.levels[i].inverse(x, context)
        return x


@dataclass
class FlowConfig:
    data_shape: tuple[int, ...] = (2,)
    kind: str = "vector"  # "vector" or "image"
    num_layers: int = 6  # vector data: transforms in the stack; images: steps per level (RealNVP/Glow)
    hidden: tuple[int, ...] = (64, 64)  # conditioner MLP widths (vectors, and flattened images for MAF/NSF)
    channels: int = 64  # conditioner CNN width for RealNVP/Glow images
    levels: int = 2  # multi-scale levels for RealNVP/Glow images
    split_prior: bool = False  # images: Glow's learned prior for the factored-out latents (flow.SplitPrior)
    coupling_scale: str = "tanh"  # images, RealNVP/Glow: "tanh" (soft-clamped exp) or "sigmoid" (Glow's bounded scale)
    num_classes: int = 0  # > 0: class-conditional (sample(n, labels=...))
    context_dim: int = 0  # > 0: conditioned on a feature vector (context=...)
    intensity_levels: int = 256  # images: discrete levels per pixel (set from the dataset)
    logit_alpha: float = 0.05  # images: w = logit(a + (1 - 2a) y)
    augment_shift: int = 0  # images: training images moved by up to this many pixels (0: off)
    dequantization: str = "uniform"  # images: "uniform" noise, or "variational" (a learned q(u | x), Flow++)


class FlowModel(GenerativeModel, Sampler, ClassConditional, Likelihood, LatentModel):
    """Shared machinery of the flow models; subclasses implement `build_vector` (and `build_image`)."""

    Config = FlowConfig
    default_lr = 1e-3
    default_precision = "32-true"
    #: whether images get a convolutional multi-scale flow (else they are flattened to vectors)
    image_native = False
    #: what `config_from_data` fills in on image data unless the caller says otherwise: the mnist5k recipe
    #: of benchmarks/pixelcnn.py for the image-native flows
    image_defaults: dict[str, Any] = {}

    def __init__(self, config: FlowConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.kind not in ("vector", "image"):
            raise GenzooError(f"flows model vector or image data, not {config.kind!r}")
        if config.kind == "image" and len(config.data_shape) != 3:
            raise GenzooError(f"image data must be (C, H, W), got {tuple(config.data_shape)}")
        if config.augment_shift < 0:
            raise GenzooError(f"augment_shift must be at least 0 pixels, got {config.augment_shift}")
        if config.dequantization not in ("uniform", "variational"):
            raise GenzooError(f"dequantization must be uniform or variational, got {config.dequantization!r}")
        self.dim = math.prod(config.data_shape)
        ctx = config.num_classes + config.context_dim
        if config.kind == "image" and self.image_native:
            self.flow: FlowLayer = self.build_image(tuple(config.data_shape), ctx)
        else:
            self.flow = self.build_vector(self.dim, ctx)
        variational = config.kind == "image" and config.dequantization == "variational"
        self.dequantizer = VariationalDequantizer(tuple(config.data_shape)) if variational else None

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.shape is None or info.kind not in ("image", "vector"):
            raise GenzooError(f"model {cls.model_name!r} needs vector or image data; {info.name!r} is {info.kind} data")
        out: dict[str, Any] = {"data_shape": tuple(info.shape), "kind": info.kind}
        if info.kind == "image":
            out = {**cls.image_defaults, **out, "intensity_levels": image_levels(info)}
        return out

    def build_vector(self, dim: int, context_dim: int) -> FlowLayer:
        raise NotImplementedError

    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        """Fused Adam (no weight decay): flows hold many small tensors, so per-tensor optimizer overhead shows."""
        from genzoo.optim import adam

        return [adam(self.parameters(), lr=lr)]

    def build_image(self, shape: tuple[int, int, int], context_dim: int) -> FlowLayer:
        raise NotImplementedError

    # -- data space <-> flow space ----------------------------------------------------------------------
    def _preprocess(self, x: Tensor, noise: bool) -> tuple[Tensor, Tensor]:
        """Images: dequantise and map to logit space, with the log-det of that map (less log q(u | x) where
        the noise is variational, so the density of w gives the dequantisation bound). Vectors: unchanged."""
        if self.config.kind != "image":
            return x, x.new_zeros(len(x))
        levels, a = self.config.intensity_levels, self.config.logit_alpha
        k = torch.round(x.clamp(0, 1) * (levels - 1))
        log_q = x.new_zeros(len(x))
        if not noise:
            u = torch.full_like(x, 0.5)
        elif self.dequantizer is not None:
            u, log_q = self.dequantizer(k / (levels - 1))
        else:
            u = torch.rand_like(x)
        y = (k + u) / levels
        s = a + (1 - 2 * a) * y
        w = torch.log(s) - torch.log1p(-s)
        logdet = (math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1) - log_q
        if not self.image_native:
            w = w.flatten(1)
        return w, logdet

    def _postprocess(self, w: Tensor) -> Tensor:
        if self.config.kind != "image":
            return w
        levels, a = self.config.intensity_levels, self.config.logit_alpha
        y = ((torch.sigmoid(w.view(len(w), *self.config.data_shape)) - a) / (1 - 2 * a)).clamp(0, 1 - 1e-6)
        return torch.floor(y * levels) / (levels - 1)

    def _log_density(self, x: Tensor, ctx: Tensor | None, noise: bool = True) -> Tensor:
        """log p of the continuous (dequantised) data, in nats per example."""
        w, ld0 = self._preprocess(x, noise)
        z, ld = self.flow(w, ctx)
        return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(1) + ld + ld0

    def _discrete_offset(self) -> float:
        """log-volume of one dequantisation bin: D log L for images, 0 for vectors."""
        return self.dim * math.log(self.config.intensity_levels) if self.config.kind == "image" else 0.0

    # -- protocol ---------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, ctx = prepare_input(self, batch)
        if self.training and self.config.kind == "image":
            x = random_shift(x, self.config.augment_shift)
        nll = -self._log_density(x, ctx).mean()
        parts = {"loss": nll / self.dim, "nll": nll}
        if self.config.kind == "image":
            parts["bits_per_dim"] = torch.tensor(
                bits_per_dim(nll.detach(), self.dim, scale_bits=math.log2(self.config.intensity_levels))
            )
        return parts

    @torch.no_grad()
    def log_prob(self, x: Tensor, labels: Tensor | None = None, context: Tensor | None = None) -> Tensor:
        """Exact log-density of vectors; for images the dequantisation bound on log P(image), in nats."""
        x = check_data(self, x)
        ctx = context_vector(self, labels, len(x), context)
        return self._log_density(x, ctx) - self._discrete_offset()

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: Tensor | int | None = None,
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        z = torch.randn(n, self.dim, device=self.device) * temperature
        return self.decode(z, labels=self.sample_labels(labels, n), context=context)

    @torch.no_grad()
    def encode(self, x: Tensor, labels: Tensor | None = None, context: Tensor | None = None) -> Tensor:
        """Latent z (N, D) of x; images use the centre of each dequantisation bin (no noise)."""
        x = check_data(self, x)
        w, _ = self._preprocess(x, noise=False)
        return self.flow(w, context_vector(self, labels, len(x), context))[0]

    @torch.no_grad()
    def decode(self, z: Tensor, labels: Tensor | None = None, context: Tensor | None = None) -> Tensor:
        z = z.to(self.device).float()
        w = self.flow.inverse(z, context_vector(self, labels, len(z), context))
        return self._postprocess(w)

    # the latent space is already flat vectors: (N, D)
    encode_latent = encode
    decode_latent = decode

    def sample_grid(self, n: int = 64) -> Tensor | None:
        if self.config.kind != "image":
            return None
        if self.config.num_classes:
            return self.sample(n, labels=torch.arange(n) % self.config.num_classes, temperature=0.8)
        return self.sample(n, temperature=0.8)


def check_divisible(shape: tuple[int, int, int], squeezes: int, name: str) -> None:
    f = 2**squeezes
    if shape[1] % f or shape[2] % f:
        raise GenzooError(
            f"{name} with these levels squeezes images {squeezes} time(s): height and width must "
            f"be divisible by {f}, got {shape[1]}x{shape[2]} (use fewer levels)"
        )
