"""MADE: Masked Autoencoder for Distribution Estimation (Germain et al. 2015).

`MADENet` is the masked network (also the conditioner of MAF and autoregressive NSF); `MADE` is the
stand-alone density model: Bernoulli conditionals for images (dynamically binarised) and Gaussian
conditionals for real vectors. Masks come from integer degrees, so output d only ever sees inputs whose
degree is lower than d's — the autoregressive property, which the tests check through gradients.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.autoregressive.common import context_vector, prepare_input
from genzoo.protocols import ClassConditional, Completer, Likelihood, Sampler
from genzoo.registry import register_model


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask on every call."""

    def __init__(self, in_features: int, out_features: int, mask: Tensor) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADENet(nn.Module):
    """Masked MLP: D inputs -> D * params_per_dim outputs, output (d, p) depends only on inputs before d.

    `order` is the position of every input in the autoregressive ordering (a permutation of 0..D-1).
    A context vector (class one-hot or features) feeds every hidden unit unmasked. Output is laid out as
    (N, params_per_dim, D) flattened, so `out.view(N, P, D)` recovers the parameters per dimension.
    """

    def __init__(
        self,
        dim: int,
        hidden: tuple[int, ...],
        params_per_dim: int,
        order: Tensor | None = None,
        context_dim: int = 0,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        if dim < 1 or not hidden:
            raise GenzooError("MADE needs at least one input dimension and one hidden layer")
        self.dim, self.params = dim, params_per_dim
        order = torch.arange(dim) if order is None else order.long()
        self.register_buffer("order", order.clone(), persistent=False)
        in_deg = order + 1  # degrees 1..D
        degrees = [in_deg]
        for h in hidden:
            # hidden degrees 1..D-1 spread evenly (deterministic, so save -> load rebuilds the same masks)
            degrees.append(torch.arange(h) % max(1, dim - 1) + 1)
        layers: list[nn.Module] = []
        for i, h in enumerate(hidden):
            mask = (degrees[i + 1][:, None] >= degrees[i][None, :]).float()
            layers.append(MaskedLinear(degrees[i].numel(), h, mask))
        self.hidden = nn.ModuleList(layers)
        out_deg = in_deg.repeat(params_per_dim)
        self.out = MaskedLinear(
            hidden[-1], dim * params_per_dim, (out_deg[:, None] > degrees[-1][None, :]).float()
        )
        self.context = nn.Linear(context_dim, hidden[0]) if context_dim else None
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        h = self.hidden[0](x)
        if self.context is not None and context is not None:
            h = h + self.context(context)
        h = F.relu(h)
        for layer in itertools.islice(self.hidden, 1, None):  # slicing a ModuleList builds a new one per call
            h = F.relu(layer(h))
        return self.out(h)

    def params_of(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-dimension parameters, shape (N, D, P)."""
        return self.forward(x, context).view(len(x), self.params, self.dim).transpose(1, 2)


@dataclass
class MADEConfig:
    data_shape: tuple[int, ...] = (1, 28, 28)
    kind: str = "image"
    hidden: tuple[int, ...] = (512, 512)
    num_classes: int = 0


@register_model("made", "MADE: masked MLP density (Bernoulli for images, Gaussian for vectors)")
class MADE(GenerativeModel, Sampler, ClassConditional, Likelihood, Completer):
    """MADE density model. Images are dynamically binarised (each pixel ~ Bernoulli(intensity)) in training,
    and `log_prob` scores the binarised image (threshold 0.5 unless already binary); vectors get Gaussian
    conditionals. Sampling and completion run D sequential passes."""

    quick = Recipe("digits", {"hidden": [32]})

    Config = MADEConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: MADEConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.kind not in ("image", "vector"):
            raise GenzooError(f"made supports image or vector data, not {config.kind!r}")
        self.dim = math.prod(config.data_shape)
        p = 1 if config.kind == "image" else 2
        self.net = MADENet(self.dim, tuple(config.hidden), p, context_dim=config.num_classes, zero_init=False)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.shape is None or info.kind not in ("image", "vector"):
            raise GenzooError(f"model 'made' needs image or vector data; {info.name!r} is {info.kind} data")
        return {"data_shape": tuple(info.shape), "kind": info.kind}

    def _binary(self, x: Tensor, dynamic: bool) -> Tensor:
        if self.config.kind != "image":
            return x
        if dynamic:
            return torch.bernoulli(x.clamp(0, 1))
        return (x > 0.5).float()

    def _log_prob_flat(self, x: Tensor, ctx: Tensor | None) -> Tensor:
        params = self.net.params_of(x, ctx)
        if self.config.kind == "image":
            return -F.binary_cross_entropy_with_logits(params[..., 0], x, reduction="none").sum(1)
        mu, log_sigma = params[..., 0], params[..., 1].clamp(-7, 7)
        return (-0.5 * ((x - mu) * torch.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)).sum(
            1
        )

    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, ctx = prepare_input(self, batch)
        lp = self._log_prob_flat(self._binary(x, dynamic=self.training).flatten(1), ctx)
        nll = -lp.mean()
        return {"loss": nll / self.dim, "nll": nll}

    @torch.no_grad()
    def log_prob(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats: of the binarised image (images) or of the vector."""
        x, ctx = prepare_input(self, (x, labels))
        return self._log_prob_flat(self._binary(x, dynamic=False).flatten(1), ctx)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | int | None = None, temperature: float = 1.0) -> Tensor:
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        x = torch.zeros(n, *self.config.data_shape, device=self.device)
        observed = torch.zeros_like(x, dtype=torch.bool)
        return self.complete(x, observed, labels=self.sample_labels(labels, n), temperature=temperature)

    @torch.no_grad()
    def complete(
        self, x: Tensor, observed: Tensor, labels: Tensor | int | None = None, temperature: float = 1.0
    ) -> Tensor:
        """Fill the pixels/dimensions where `observed` is False, in the model's order.

        Exact conditional sampling when every observed entry comes before the missing ones in the order
        (e.g. the top rows of an image); otherwise later observations are used as they are reached.
        """
        x = x.to(self.device).float().clone()
        observed = observed.to(self.device).bool().expand_as(x)
        ctx = context_vector(self, labels, len(x))
        flat, obs = x.flatten(1), observed.flatten(1)
        if self.config.kind == "image":
            flat = torch.where(obs, (flat > 0.5).float(), flat)
        for d in self.net.order.argsort().tolist():
            if bool(obs[:, d].all()):
                continue
            params = self.net.params_of(flat, ctx)[:, d]
            if self.config.kind == "image":
                new = torch.bernoulli(torch.sigmoid(params[:, 0] / temperature))
            else:
                new = params[:, 0] + torch.exp(params[:, 1].clamp(-7, 7)) * temperature * torch.randn(
                    len(x), device=x.device
                )
            flat[:, d] = torch.where(obs[:, d], flat[:, d], new)
        return torch.where(observed, x, flat.view_as(x))  # the observed entries exactly as given


__all__ = ["MADE", "MADEConfig", "MADENet", "MaskedLinear"]
