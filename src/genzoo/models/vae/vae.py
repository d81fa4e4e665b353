"""beta-VAE and conditional VAE on images (Kingma & Welling 2014; Higgins et al. 2017; Sohn et al. 2015).

Training minimises the negative ELBO; `log_prob` is the importance-weighted bound (Burda et al. 2016)
with k samples, which tightens towards log p(x) as k grows — the figure pythae and the papers report.
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
from genzoo.models.vae import likelihoods
from genzoo.nn.convnets import ConvDecoder, ConvEncoder
from genzoo.protocols import LatentModel, Likelihood, Sampler
from genzoo.registry import register_model


@dataclass
class VAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 16
    hidden: int = 32
    downsamples: int = 2
    likelihood: str = "bernoulli"
    beta: float = 1.0
    sigma: float = 0.1
    num_classes: int = 0


class ConvVAE(GenerativeModel, Sampler, Likelihood):
    """Convolutional VAE with a Gaussian posterior, a standard-normal prior and a choice of likelihoods.

    `vae` and `cvae` share it; only the unconditional one offers a latent space of its own (a conditional
    VAE's latent means nothing without its label)."""

    Config = VAEConfig
    default_lr = 1e-3

    def __init__(self, config: VAEConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.likelihood not in likelihoods.LIKELIHOODS:
            raise GenzooError(f"unknown likelihood {config.likelihood!r}; choose one of {likelihoods.LIKELIHOODS}")
        c, h, w = config.image_shape
        k = config.num_classes
        self.encoder = ConvEncoder(c, h, w, config.hidden, config.downsamples, extra_channels=k)
        self.to_posterior = nn.Linear(self.encoder.out_features, 2 * config.latent_dim)
        out_ch = likelihoods.decoder_channels(config.likelihood, c)
        self.decoder = ConvDecoder(config.latent_dim + k, out_ch, h, w, config.hidden, config.downsamples)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or len(info.shape) != 3:
            raise GenzooError(f"model {cls.model_name!r} needs image data; {info.name!r} is {info.kind} data")
        return {"image_shape": tuple(info.shape)}

    # -- pieces -----------------------------------------------------------------------------------------
    def _onehot(self, y: Tensor | None, n: int) -> Tensor | None:
        k = self.config.num_classes
        if not k:
            return None
        if y is None:
            raise GenzooError("this conditional model needs labels (labels=...)")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.numel() == 1 and n > 1:
            y = y.expand(n)
        if y.numel() != n or (y < 0).any() or (y >= k).any():
            raise GenzooError(f"labels must be {n} class indices in [0, {k})")
        return F.one_hot(y, k).float()

    def posterior(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.encoder(x, self._onehot(y, len(x)))
        mu, logvar = self.to_posterior(h).float().chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decoder_out(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        c = self._onehot(y, len(z))
        return self.decoder(torch.cat([z, c], 1) if c is not None else z)

    # -- protocol ---------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch
        y = y if self.config.num_classes else None
        mu, logvar = self.posterior(x, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = likelihoods.nll(x, self.decoder_out(z, y), self.config.likelihood, self.config.sigma)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        elbo = -(rec + kl)
        return {"loss": (rec + self.config.beta * kl).mean(), "recon": rec.mean(), "kl": kl.mean(),
                "neg_elbo": -elbo.mean()}

    def encode(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        self.check_input(x)
        return self.posterior(x.to(self.device), labels)[0]

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return likelihoods.mean(self.decoder_out(z.to(self.device), labels), self.config.likelihood)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | int | None = None, temperature: float = 1.0) -> Tensor:
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        z = torch.randn(n, self.config.latent_dim, device=self.device) * temperature
        return self.decode(z, self.sample_labels(labels, n))

    @torch.no_grad()
    def log_prob(self, x: Tensor, labels: Tensor | None = None, k: int = 100, chunk: int = 50) -> Tensor:
        """Importance-weighted lower bound on log p(x) with k posterior samples (nats per example)."""
        self.check_input(x)
        x = x.to(self.device).float()
        y = labels if self.config.num_classes else None
        mu, logvar = self.posterior(x, y)
        std = torch.exp(0.5 * logvar)
        terms = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, *mu.shape, device=x.device)
            z = mu + eps * std  # (m, N, D)
            zf = z.reshape(-1, z.shape[-1])
            xr = x.unsqueeze(0).expand(m, *x.shape).reshape(-1, *x.shape[1:])
            yr = None if y is None else torch.as_tensor(y, device=x.device).repeat(m)
            log_px_z = -likelihoods.nll(xr, self.decoder_out(zf, yr), self.config.likelihood, self.config.sigma)
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_qz = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi) - torch.log(std)).sum(-1)
            terms.append(log_px_z.view(m, -1) + log_pz - log_qz)
        return torch.logsumexp(torch.cat(terms, 0), 0) - math.log(k)

    def sample_grid(self, n: int = 64) -> Tensor:
        if self.config.num_classes:
            return self.sample(n, labels=torch.arange(n) % self.config.num_classes)
        return self.sample(n)


@register_model("vae", "convolutional beta-VAE; IWAE log-likelihood")
class VAE(ConvVAE, LatentModel):
    """The unconditional VAE; its latent space is flat vectors (N, latent_dim)."""

    quick = Recipe("digits", {"hidden": 8, "latent_dim": 4})

    def encode_latent(self, x: Tensor) -> Tensor:
        return self.encode(x)

    def decode_latent(self, z: Tensor) -> Tensor:
        return self.decode(z)
