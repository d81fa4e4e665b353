"""A small WaveNet (van den Oord et al. 2016): dilated causal convolutions over mu-law audio.

Audio in [-1, 1] is mu-law companded and quantised to 256 classes; the network predicts a softmax over the
next sample's class from the receptive field of past samples (gated tanh/sigmoid residual blocks with
dilations 1, 2, 4, ... repeated in stacks, skip connections summed into the output). Training is teacher
forced and fully parallel. Sampling runs through the shared decoding core (`genzoo.generation`), one
sample at a time, with the network's state in the cache: each causal convolution keeps the tail of its
past inputs (the dilation's worth), so a step costs one new column per layer instead of recomputing the
receptive field (Paine et al. 2016, "Fast Wavenet"). Causality — output t never depends on inputs after
t — is what makes the likelihood exact, and is tested by a gradient check.
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
from genzoo.generation import GenerationConfig, StateCache, generate
from genzoo.protocols import Likelihood, Sampler
from genzoo.registry import register_model


def mu_law_encode(x: Tensor, classes: int = 256) -> Tensor:
    """Audio in [-1, 1] -> integer classes 0..classes-1 (ITU-T G.711 mu-law companding)."""
    mu = classes - 1
    x = x.clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long().clamp(0, mu)


def mu_law_decode(q: Tensor, classes: int = 256) -> Tensor:
    """Integer classes -> audio in [-1, 1] (the inverse companding of each class centre)."""
    mu = classes - 1
    y = 2 * q.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


class CausalConv1d(nn.Conv1d):
    """Conv1d that pads only on the left, so output t sees inputs <= t."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1) -> None:
        super().__init__(cin, cout, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left, 0)))

    def forward_after(self, x: Tensor, past: Tensor) -> tuple[Tensor, Tensor]:
        """The outputs for new inputs x (B, C, T) after `past`, the last `left` inputs before them (zeros at
        the start, as the padding); returns them and the tail to continue from."""
        full = torch.cat([past, x], 2)
        return self._conv_forward(full, self.weight, self.bias), full[:, :, full.shape[2] - self.left :]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, skip: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, 2, dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(residual out, skip out)."""
        return self._gate(x, self.conv(x))

    def forward_after(self, x: Tensor, past: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The same for inputs continuing `past` (see `CausalConv1d.forward_after`), plus the new tail."""
        conv, tail = self.conv.forward_after(x, past)
        return (*self._gate(x, conv), tail)

    def _gate(self, x: Tensor, conv: Tensor) -> tuple[Tensor, Tensor]:
        a, b = conv.chunk(2, 1)
        h = torch.tanh(a) * torch.sigmoid(b)
        return x + self.res(h), self.skip(h)


@dataclass
class WaveNetConfig:
    classes: int = 256
    channels: int = 32
    skip_channels: int = 64
    layers_per_stack: int = 8
    stacks: int = 2
    sample_rate: int = 16000


@register_model("wavenet", "small WaveNet: dilated causal convolutions over 8-bit mu-law audio")
class WaveNet(GenerativeModel, Sampler, Likelihood):
    """Unconditional WaveNet; batches are (B, T) float audio in [-1, 1]."""

    quick = Recipe("spoken_digits", {"channels": 8, "skip_channels": 8, "layers_per_stack": 3, "stacks": 1},
                   {"speeds": [150], "pitches": [50], "length": 2000})

    Config = WaveNetConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: WaveNetConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        self.embed = nn.Embedding(c.classes, c.channels)
        self.blocks = nn.ModuleList(
            ResidualBlock(c.channels, c.skip_channels, 2**i)
            for _ in range(c.stacks)
            for i in range(c.layers_per_stack)
        )
        self.out = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(c.skip_channels, c.skip_channels, 1),
            nn.ReLU(),
            nn.Conv1d(c.skip_channels, c.classes, 1),
        )

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "audio":
            raise GenzooError(f"model {cls.model_name!r} needs audio; {info.name!r} is {info.kind} data")
        return {"sample_rate": int(info.extra.get("sample_rate", 16000))}

    @property
    def receptive_field(self) -> int:
        return self.config.stacks * (2**self.config.layers_per_stack - 1) + 1

    def logits(self, q: Tensor) -> Tensor:
        """Classes (B, T) -> logits (B, classes, T) for the sample *after* each position."""
        x = self.embed(q).transpose(1, 2)
        skips = 0
        for block in self.blocks:
            x, s = block(x)
            skips = skips + s
        return self.out(skips)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        audio = batch[0] if isinstance(batch, (tuple, list)) else batch
        q = mu_law_encode(audio.float(), self.config.classes)
        nll = F.cross_entropy(self.logits(q[:, :-1]), q[:, 1:])
        return {"loss": nll, "nll_per_sample": nll.detach()}

    @torch.no_grad()
    def log_prob(self, x: Tensor, **condition: Any) -> Tensor:
        """Log-probability (nats) of each clip's quantised samples after the first."""
        q = mu_law_encode(x.float().to(self.device), self.config.classes)
        return -F.cross_entropy(self.logits(q[:, :-1]), q[:, 1:], reduction="none").sum(1)

    # -- token model (the decoding core's view): classes are tokens ---------------------------------------
    context_length = None

    @property
    def vocab_size(self) -> int:
        return int(self.config.classes)

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=0)

    def forward_tokens(self, ids: Tensor, cache: StateCache | None = None) -> Tensor:
        """Classes (B, T) -> logits (B, T, classes) for the sample after each; the cache holds every
        convolution's input tail, so consecutive calls continue one signal."""
        if cache is None:
            return self.logits(ids.to(self.device)).transpose(1, 2)
        x = self.embed(ids.to(self.device)).transpose(1, 2)
        if cache.state is None:
            cache.state = [x.new_zeros(len(x), x.shape[1], b.conv.left) for b in self.blocks]
        skips, tails = 0, []
        for block, past in zip(self.blocks, cache.state, strict=True):
            x, s, tail = block.forward_after(x, past)
            skips = skips + s
            tails.append(tail)
        cache.state, cache.length = tails, cache.length + ids.shape[1]
        return self.out(skips).transpose(1, 2)

    @torch.no_grad()
    def sample(self, n: int, length: int = 4000, temperature: float = 1.0) -> Tensor:
        """`n` clips (n, length) of audio in [-1, 1], drawn one sample at a time after a receptive field of
        silence."""
        if n < 1 or length < 1:
            raise GenzooError("sample needs n >= 1 and length >= 1")
        self.eval()
        rf = self.receptive_field
        silence = torch.full((n, rf), self.config.classes // 2, dtype=torch.long)
        q = generate(self, silence, GenerationConfig(max_new_tokens=length, temperature=temperature))
        return mu_law_decode(q[:, rf:], self.config.classes)
