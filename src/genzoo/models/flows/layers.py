"""Invertible layers. Each maps x -> (z, log|det dz/dx|) forward and has an exact `inverse(z) -> x`.

Layers work on vectors (N, D) and, where noted, images (N, C, H, W); `context` is an optional (N, K)
conditioning vector (class one-hot or features) that conditioner networks see.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.errors import GenzooError
from genzoo.models.autoregressive.made import MADENet
from genzoo.models.flows import transforms


class FlowLayer(nn.Module):
    """Interface: `forward(x, context) -> (z, logdet)` and `inverse(z, context) -> x`."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        raise NotImplementedError


def _spatial(x: Tensor) -> int:
    return x[0, 0].numel()


class ActNorm(FlowLayer):
    """Per-channel affine map initialised from the first training batch to zero mean, unit variance (Glow)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(0.0))

    def _shape(self, x: Tensor) -> tuple[int, ...]:
        return (1, -1) + (1,) * (x.ndim - 2)

    @torch.no_grad()
    def _init(self, x: Tensor) -> None:
        dims = [d for d in range(x.ndim) if d != 1]
        self.loc.copy_(-x.mean(dims))
        self.log_scale.copy_(-torch.log(x.std(dims).clamp_min(1e-3)))
        self.initialized.fill_(1.0)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized) and len(x) > 1:
            self._init(x)
        s = self._shape(x)
        z = (x + self.loc.view(s)) * torch.exp(self.log_scale.view(s))
        return z, self.log_scale.sum().expand(len(x)) * _spatial(x)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        s = self._shape(z)
        return z * torch.exp(-self.log_scale.view(s)) - self.loc.view(s)


class InvertibleLinearLU(FlowLayer):
    """Channel mixing W = P L (U + diag(sign * exp(log_s))): Glow's invertible 1x1 convolution (on images)
    or an LU linear layer (on vectors). The log-determinant is sum(log_s) per spatial position."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=g))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("l_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def weight(self) -> Tensor:
        lower = self.lower * self.l_mask + self.eye
        upper = self.upper * self.l_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def _apply_matrix(self, x: Tensor, w: Tensor) -> Tensor:
        if x.ndim == 2:
            return x @ w.T
        return F.conv2d(x, w.view(*w.shape, 1, 1))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._apply_matrix(x, self.weight()), self.log_s.sum().expand(len(x)) * _spatial(x)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return self._apply_matrix(z, torch.linalg.inv(self.weight()))


class Squeeze(FlowLayer):
    """(N, C, H, W) -> (N, 4C, H/2, W/2): trades space for channels so channel couplings see neighbours."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return x.reshape(n, c * 4, h // 2, w // 2), x.new_zeros(n)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        n, c, h, w = z.shape
        z = z.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return z.reshape(n, c // 4, h * 2, w * 2)


def mlp(inp: int, hidden: tuple[int, ...], out: int) -> nn.Sequential:
    """ReLU MLP whose last layer starts at zero, so every coupling starts as the identity map."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h), nn.ReLU()]
        inp = h
    last = nn.Linear(inp, out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class VectorCoupling(FlowLayer):
    """Coupling on vectors: one half passes through and parameterises an element-wise map of the other half.

    `kind` is "affine" (RealNVP / Glow) or "spline" (NSF). `flip` chooses which half is transformed, so
    stacking alternating layers transforms every dimension.
    """

    def __init__(
        self,
        dim: int,
        hidden: tuple[int, ...],
        kind: str = "affine",
        flip: bool = False,
        context_dim: int = 0,
        bins: int = 8,
        bound: float = 3.0,
    ) -> None:
        super().__init__()
        if dim < 2:
            raise GenzooError("coupling layers need at least 2 dimensions")
        self.split = dim // 2 if not flip else dim - dim // 2
        self.flip, self.kind, self.bound = flip, kind, bound
        self.p = transforms.params_per_dim(kind, bins)
        n_keep = self.split
        self.n_change = dim - n_keep
        self.net = mlp(n_keep + context_dim, hidden, self.n_change * self.p)

    def _halves(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.flip:
            change, keep = x[:, : self.n_change], x[:, self.n_change :]
        else:
            keep, change = x[:, : self.split], x[:, self.split :]
        return keep, change

    def _join(self, keep: Tensor, change: Tensor) -> Tensor:
        return torch.cat([change, keep] if self.flip else [keep, change], 1)

    def _params(self, keep: Tensor, context: Tensor | None) -> Tensor:
        inp = keep if context is None else torch.cat([keep, context], 1)
        return self.net(inp).view(len(keep), self.n_change, self.p)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        keep, change = self._halves(x)
        y, ld = transforms.apply(self.kind, change, self._params(keep, context), False, self.bound)
        return self._join(keep, y), ld.sum(1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        keep, change = self._halves(z)
        x, _ = transforms.apply(self.kind, change, self._params(keep, context), True, self.bound)
        return self._join(keep, x)


def checkerboard(channels: int, h: int, w: int, parity: int) -> Tensor:
    """1 where (row + col) % 2 == parity: the pixels that pass through unchanged."""
    grid = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == parity
    return grid.float().expand(channels, h, w).unsqueeze(0).clone()


def channel_mask(channels: int, h: int, w: int, parity: int) -> Tensor:
    """1 on the first (parity 0) or second half of the channels."""
    m = torch.zeros(1, channels, h, w)
    half = channels // 2
    if parity == 0:
        m[:, :half] = 1
    else:
        m[:, half:] = 1
    return m


COUPLING_SCALES = {"tanh": transforms.affine, "sigmoid": transforms.affine_sigmoid}


class ImageCoupling(FlowLayer):
    """Masked affine coupling on images (RealNVP): masked pixels pass through and, via a small CNN,
    set the log-scale and shift of the others. Masks are checkerboard or channel-wise; `context` is a vector
    per example (N, K), or a feature map (N, K, H, W) of the image's size. `scale` is "tanh"
    (RealNVP's soft-clamped exp, `transforms.affine`) or "sigmoid" (Glow's, `transforms.affine_sigmoid`)."""

    def __init__(self, mask: Tensor, hidden: int, context_dim: int = 0, scale: str = "tanh") -> None:
        super().__init__()
        if scale not in COUPLING_SCALES:
            raise GenzooError(f"coupling scale must be one of {sorted(COUPLING_SCALES)}, got {scale!r}")
        self.affine = COUPLING_SCALES[scale]
        c = mask.shape[1]
        self.register_buffer("mask", mask, persistent=False)
        self.context_dim = context_dim
        last = nn.Conv2d(hidden, 2 * c, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Conv2d(c + context_dim, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            last,
        )

    def _params(self, x_masked: Tensor, context: Tensor | None) -> Tensor:
        inp = x_masked
        if context is not None and self.context_dim:
            n, _, h, w = x_masked.shape
            spatial = context if context.ndim == 4 else context[:, :, None, None].expand(n, -1, h, w)
            inp = torch.cat([x_masked, spatial], 1)
        out = self.net(inp)
        n, c2, h, w = out.shape
        return out.view(n, 2, c2 // 2, h, w).movedim(1, -1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        m = self.mask
        y, log_s = self.affine(x, self._params(x * m, context))
        return m * x + (1 - m) * y, ((1 - m) * log_s).sum((1, 2, 3))

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        m = self.mask
        x, _ = self.affine(z, self._params(z * m, context), inverse=True)
        return m * z + (1 - m) * x


class Autoregressive(FlowLayer):
    """Masked autoregressive layer (MAF; or autoregressive NSF with `kind="spline"`): one MADE pass gives
    the density direction x -> z; the inverse (sampling) takes D sequential passes."""

    def __init__(
        self,
        dim: int,
        hidden: tuple[int, ...],
        kind: str = "affine",
        reverse: bool = False,
        context_dim: int = 0,
        bins: int = 8,
        bound: float = 3.0,
    ) -> None:
        super().__init__()
        order = torch.arange(dim).flip(0) if reverse else torch.arange(dim)
        self.kind, self.bound = kind, bound
        self.net = MADENet(dim, hidden, transforms.params_per_dim(kind, bins), order, context_dim)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ld = transforms.apply(self.kind, x, self.net.params_of(x, context), False, self.bound)
        return z, ld.sum(1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        x = torch.zeros_like(z)
        for d in self.net.order.argsort().tolist():
            params = self.net.params_of(x, context)[:, d]
            x_d, _ = transforms.apply(self.kind, z[:, d], params, True, self.bound)
            x = x.clone()
            x[:, d] = x_d
        return x
