"""VQ-VAE (van den Oord et al. 2017) with an EMA codebook and a small autoregressive prior over its tokens.

- Encoder: conv stem + stride-2 stages + residual blocks -> a grid of `code_dim` vectors (7x7 for 28x28).
- Quantiser: nearest codebook vector; gradients pass straight through to the encoder; the codebook is not
  trained by gradient but by exponential moving averages of the vectors assigned to each code (Razavi et al.
  2019), which is steadier than the codebook loss; codes that fall out of use are restarted on encoder
  outputs from the current batch (Dhariwal et al. 2020, Jukebox), so usage stays high.
- Commitment loss `beta * ||z_e - sg(z_q)||^2` keeps the encoder close to its codes; reconstruction is
  Bernoulli cross-entropy on grey levels (MSE through a sigmoid stalls on mostly-black digits).
- Prior: a log-linear autoregressive model of each token given its left and upper neighbours and its
  position, trained jointly on the (detached) tokens. It makes `sample` possible and gives the rate that the
  compression app (`genzoo.apps.compress`) realises with an entropy coder; `prior_probs_at` is the one place
  coding probabilities are computed, so encoder and decoder see bit-identical numbers. Sampling runs the
  prior through the shared decoding core (`genzoo.generation`) as a token model (`TokenPrior`).

`encode` returns integer token grids (N, h, w) — what a text-to-image GPT models; `decode` maps them back.
`encode_latent` / `decode_latent` expose the continuous pre-quantisation grid, flattened, for latent
arithmetic (`genzoo.latent`).
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
from genzoo.nn.convnets import padded_size
from genzoo.protocols import Compressor, LatentModel, Sampler
from genzoo.registry import register_model


@dataclass
class VQVAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    hidden: int = 64
    downsamples: int = 2
    res_blocks: int = 1
    codebook_size: int = 64
    code_dim: int = 16
    beta: float = 0.25  # commitment weight
    ema_decay: float = 0.99
    restart_threshold: float = 1.0  # EMA assignments per batch below which a code is restarted
    prior_weight: float = 1.0


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


def _widths(hidden: int, downsamples: int) -> list[int]:
    """Channels per resolution, full resolution first: half width there, where convolutions cost most."""
    return [max(hidden // 2, 1)] + [hidden] * downsamples


class GridEncoder(nn.Module):
    """(C, H, W) -> (code_dim, H / 2**d, W / 2**d), padding the image to a multiple of 2**d first."""

    def __init__(
        self, c: int, h: int, w: int, hidden: int, downsamples: int, res_blocks: int, out: int
    ) -> None:
        super().__init__()
        self.h, self.w = h, w
        self.ph, self.pw = padded_size(h, downsamples), padded_size(w, downsamples)
        widths = _widths(hidden, downsamples)
        layers: list[nn.Module] = [nn.Conv2d(c, widths[0], 3, padding=1)]
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.SiLU(), nn.Conv2d(a, b, 4, stride=2, padding=1)]
        layers += [ResBlock(hidden) for _ in range(res_blocks)]
        layers += [nn.SiLU(), nn.Conv2d(hidden, out, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(F.pad(x, (0, self.pw - self.w, 0, self.ph - self.h)))


class GridDecoder(nn.Module):
    """The mirror of GridEncoder, cropped back to (C, H, W); outputs logits of pixel intensities."""

    def __init__(
        self, c: int, h: int, w: int, hidden: int, downsamples: int, res_blocks: int, inp: int
    ) -> None:
        super().__init__()
        self.h, self.w = h, w
        layers: list[nn.Module] = [nn.Conv2d(inp, hidden, 3, padding=1)]
        layers += [ResBlock(hidden) for _ in range(res_blocks)]
        widths = _widths(hidden, downsamples)[::-1]
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.SiLU(), nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)]
        layers += [nn.SiLU(), nn.Conv2d(widths[-1], c, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)[:, :, : self.h, : self.w]


class EMACodebook(nn.Module):
    """Nearest-neighbour quantiser; its vectors are moving averages of the encoder outputs assigned."""

    def __init__(self, size: int, dim: int, decay: float, restart_threshold: float) -> None:
        super().__init__()
        self.size, self.dim, self.decay, self.restart_threshold = size, dim, decay, restart_threshold
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def assign(self, flat: Tensor) -> Tensor:
        """Index of the nearest code for each row of `flat` (M, dim)."""
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def update(self, flat: Tensor, idx: Tensor) -> None:
        """One EMA step from vectors `flat` assigned to codes `idx`; then restart codes out of use."""
        if not bool(self.initialised):  # start the codebook on real encoder outputs, not noise
            self.embed.copy_(flat[torch.randint(len(flat), (self.size,), device=flat.device)])
            self.embed_sum.copy_(self.embed)
            self.initialised.fill_(True)
            idx = self.assign(flat)
        onehot = F.one_hot(idx, self.size).type_as(flat)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + self.size * 1e-5) * n  # Laplace smoothing
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.restart_threshold
        if dead.any():
            k = int(dead.sum())
            picks = flat[torch.randint(len(flat), (k,), device=flat.device)]
            self.embed[dead] = picks
            self.embed_sum[dead] = picks
            self.cluster_size[dead] = 1.0

    def lookup(self, idx: Tensor) -> Tensor:
        return F.embedding(idx, self.embed)


class TokenPrior:
    """The decoding core's view of the prior: the raster-order tokens after a start token.

    The cache keeps the tokens so far; the logits after the token at sequence position j are the prior's
    for raster position j given its left and upper neighbours (`codebook_size` where there is none). The
    start token is never anyone's neighbour, so any code serves (0).
    """

    context_length = None
    start = 0

    def __init__(self, vq: VQVAE) -> None:
        self.vq = vq
        self.vocab_size = vq.config.codebook_size
        self.device = vq.device

    def new_cache(self, batch_size: int) -> StateCache:
        return StateCache(batch_dim=0)

    def forward_tokens(self, ids: Tensor, cache: StateCache) -> Tensor:
        seq = ids if cache.state is None else torch.cat([cache.state, ids], 1)
        first = cache.length
        cache.state, cache.length = seq, seq.shape[1]
        (h, w), none = self.vq.grid, self.vocab_size
        pos = torch.arange(first, seq.shape[1], device=seq.device)  # the raster positions predicted
        if int(pos[-1]) >= h * w:
            raise GenzooError(f"the prior covers {h * w} tokens; asked for more")
        left = torch.where(pos % w > 0, seq[:, pos], none)  # seq[:, p] is raster token p - 1
        up = torch.where(pos >= w, seq[:, (pos - w + 1).clamp(min=0)], none)
        return self.vq.prior_bias[pos][None] + self.vq.prior_left[left] + self.vq.prior_up[up]


@register_model("vqvae", "VQ-VAE: EMA codebook, dead-code restarts, integer token grids, autoregressive token prior")
class VQVAE(GenerativeModel, Sampler, LatentModel, Compressor):
    """Vector-quantised autoencoder; images in [0, 1], tokens (N, h, w) in [0, codebook_size)."""

    quick = Recipe("digits", {"hidden": 8, "codebook_size": 16, "code_dim": 4, "downsamples": 1})

    Config = VQVAEConfig
    default_lr = 2e-3
    default_precision = "32-true"  # nearest-code search and EMA statistics want fp32

    def __init__(self, config: VQVAEConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.codebook_size < 2 or config.code_dim < 1 or config.downsamples < 1:
            raise GenzooError("vqvae needs codebook_size >= 2, code_dim >= 1 and downsamples >= 1")
        c, h, w = config.image_shape
        args = (c, h, w, config.hidden, config.downsamples, config.res_blocks)
        self.encoder = GridEncoder(*args, config.code_dim)
        self.decoder = GridDecoder(*args, config.code_dim)
        self.codebook = EMACodebook(
            config.codebook_size, config.code_dim, config.ema_decay, config.restart_threshold
        )
        self.grid = (
            padded_size(h, config.downsamples) // 2**config.downsamples,
            padded_size(w, config.downsamples) // 2**config.downsamples,
        )
        k, p = config.codebook_size, self.grid[0] * self.grid[1]
        # log-linear AR prior: logits[p, k] = bias[p, k] + left[token left of p, k] + up[token above p, k]
        self.prior_bias = nn.Parameter(torch.zeros(p, k))
        self.prior_left = nn.Parameter(torch.zeros(k + 1, k))  # row k = "no left neighbour"
        self.prior_up = nn.Parameter(torch.zeros(k + 1, k))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or len(info.shape) != 3:
            raise GenzooError(f"model 'vqvae' needs image data; {info.name!r} is {info.kind} data")
        return {"image_shape": tuple(info.shape)}

    # -- quantisation ------------------------------------------------------------------------------
    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """(N, D, h, w) continuous -> (quantised (N, D, h, w), token grid (N, h, w))."""
        n, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.codebook.assign(flat)
        z_q = self.codebook.lookup(idx).view(n, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.view(n, h, w)

    # -- prior over tokens -------------------------------------------------------------------------
    def _neighbours(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Left and upper neighbour of every token, `codebook_size` where there is none."""
        k = self.config.codebook_size
        left = F.pad(idx[:, :, :-1], (1, 0), value=k)
        up = F.pad(idx[:, :-1, :], (0, 0, 1, 0), value=k)
        return left, up

    def prior_logits(self, idx: Tensor) -> Tensor:
        """Teacher-forced logits (N, h, w, K) of every token given its causal neighbours."""
        left, up = self._neighbours(idx)
        bias = self.prior_bias.view(*self.grid, -1)
        return bias[None] + self.prior_left[left] + self.prior_up[up]

    def token_log_probs(self, idx: Tensor) -> Tensor:
        """log p(token) in nats for every position of token grids (N, h, w)."""
        return torch.log_softmax(self.prior_logits(idx).float(), -1).gather(-1, idx.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def prior_probs_at(self, position: int, left: Tensor, up: Tensor) -> Tensor:
        """Coding distribution (M, K) float64 for raster position `position` given M left/up neighbours.

        The entropy coder calls this with the same shapes when compressing and decompressing, so both sides
        see bit-identical probabilities.
        """
        logits = self.prior_bias[position][None] + self.prior_left[left] + self.prior_up[up]
        return torch.softmax(logits.double(), -1)

    @torch.no_grad()
    def rate_bits(self, idx: Tensor) -> Tensor:
        """Ideal code length of each token grid (N,) in bits under the prior."""
        return -self.token_log_probs(idx.to(self.device)).flatten(1).sum(1) / math.log(2)

    def prior_parameters(self) -> list[nn.Parameter]:
        return [self.prior_bias, self.prior_left, self.prior_up]

    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        """The prior is a table of logits that must move by several nats: it gets 25x the autoencoder's lr."""
        prior = {id(p) for p in self.prior_parameters()}
        rest = [p for p in self.parameters() if id(p) not in prior]
        groups = [{"params": rest, "lr": lr}, {"params": self.prior_parameters(), "lr": 25 * lr}]
        from genzoo.optim import adamw

        return [adamw(groups, lr=lr)]

    @torch.enable_grad()
    def fit_prior(self, tokens: Tensor, steps: int = 300, lr: float = 0.05) -> float:
        """Refit the prior to the token grids of a dataset (full batch), e.g. once the codebook has settled.

        Returns the final bits per token. Cheap: the prior is log-linear and the tokens are fixed.
        """
        tokens = tokens.to(self.device)
        opt = torch.optim.Adam(self.prior_parameters(), lr=lr)
        for _ in range(steps):
            nats = -self.token_log_probs(tokens).mean()
            opt.zero_grad()
            nats.backward()
            opt.step()
        return float(nats.detach()) / math.log(2)

    # -- protocol ----------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        z_e = self.encoder(x).float()
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.config.code_dim)
        if self.training:
            self.codebook.update(flat, self.codebook.assign(flat))
        z_q, idx = self.quantize(z_e)
        z_st = z_e + (z_q - z_e).detach()  # straight-through: decoder gradient flows to the encoder
        logits = self.decoder(z_st).float()
        # Bernoulli cross-entropy on grey levels: unlike MSE through a sigmoid it does not stall when the
        # decoder first predicts the (mostly black) background, where the sigmoid saturates.
        rec = F.binary_cross_entropy_with_logits(logits, x)
        mse = F.mse_loss(torch.sigmoid(logits), x).detach()
        commit = F.mse_loss(z_e, z_q.detach())
        prior_nats = -self.token_log_probs(idx.detach()).mean()
        counts = torch.bincount(idx.flatten(), minlength=self.config.codebook_size).float()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())
        return {
            "loss": rec + self.config.beta * commit + self.config.prior_weight * prior_nats / idx[0].numel(),
            "recon_bce": rec.detach(),
            "mse": mse,
            "commit": commit.detach(),
            "prior_bits_per_token": prior_nats.detach() / math.log(2),
            "perplexity": perplexity,
            "usage": (counts > 0).float().mean(),
        }

    def encode(self, x: Tensor) -> Tensor:
        """Images (N, C, H, W) -> token grids (N, h, w), int64."""
        self.check_input(x)
        return self.quantize(self.encoder(x.to(self.device)).float())[1]

    encode_tokens = encode

    def decode(self, z: Tensor) -> Tensor:
        """Token grids (N, h, w) -> images in [0, 1]."""
        z = torch.as_tensor(z, device=self.device)
        if z.dtype.is_floating_point or z.ndim != 3 or tuple(z.shape[1:]) != self.grid:
            raise GenzooError(
                f"decode takes integer token grids of shape (N, {self.grid[0]}, {self.grid[1]})"
            )
        if (z < 0).any() or (z >= self.config.codebook_size).any():
            raise GenzooError(f"tokens must lie in [0, {self.config.codebook_size})")
        z_q = self.codebook.lookup(z.long()).permute(0, 3, 1, 2)
        return torch.sigmoid(self.decoder(z_q).float())

    decode_tokens = decode

    def encode_latent(self, x: Tensor) -> Tensor:
        """The continuous encoder output, flattened (N, code_dim * h * w), for latent arithmetic."""
        self.check_input(x)
        return self.encoder(x.to(self.device)).float().flatten(1)

    def decode_latent(self, v: Tensor) -> Tensor:
        """Quantise a flattened continuous latent and decode it, so edits land on images the model makes."""
        z_e = v.to(self.device).float().view(len(v), self.config.code_dim, *self.grid)
        return self.decode(self.quantize(z_e)[1])

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> Tensor:
        """Ancestral sampling of token grids from the prior in raster order (the decoding core), then decoding."""
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        h, w = self.grid
        prior = TokenPrior(self)
        config = GenerationConfig(max_new_tokens=h * w, temperature=max(temperature, 1e-4))
        tokens = generate(prior, torch.full((n, 1), prior.start, dtype=torch.long), config)
        return self.decode(tokens[:, 1:].view(n, h, w))

    @torch.no_grad()
    def codebook_stats(self, x: Tensor, batch: int = 500) -> dict[str, float]:
        """Codebook usage (fraction of codes used), perplexity and reconstruction MSE/PSNR on images `x`."""
        idx = torch.cat([self.encode(x[i : i + batch]) for i in range(0, len(x), batch)])
        rec = torch.cat([self.decode(idx[i : i + batch]) for i in range(0, len(idx), batch)]).cpu()
        counts = torch.bincount(idx.flatten().cpu(), minlength=self.config.codebook_size).float()
        p = counts / counts.sum()
        mse = float(((rec - x.cpu()) ** 2).mean())
        return {
            "usage": float((counts > 0).float().mean()),
            "perplexity": float(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())),
            "mse": mse,
            "psnr": 10 * math.log10(1.0 / max(mse, 1e-12)),
            "prior_bits_per_token": float(self.rate_bits(idx).mean() / idx[0].numel()),
        }
