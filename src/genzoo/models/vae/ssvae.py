"""Semi-supervised VAE: the M2 model of Kingma, Rezende, Mohamed & Welling (2014).

Generative model p(y) p(z) p(x | y, z) with y a class and z a continuous "style"; inference networks
q(z | x, y) and a classifier q(y | x). A labelled example contributes the negative ELBO L(x, y); an
unlabelled one the negative ELBO with y marginalised under the classifier,

    U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)),

and labelled examples also train the classifier directly (weight `class_weight`, the paper's alpha), since
otherwise q(y|x) only learns from the unlabelled term. Batches are ordinary `(image, label)` pairs with
label -1 for unlabelled images, so `genzoo.fit` trains it like any other model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.registry import register_model


@dataclass
class SSVAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    latent_dim: int = 32
    hidden: int = 256
    class_weight: float = 50.0  # alpha: weight of the classification loss on labelled examples (nats)


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
    )


def make_classifier(config: SSVAEConfig) -> nn.Sequential:
    """q(y|x): the classifier M2 trains; the semi-supervised app trains the same network on labels alone."""
    d = math.prod(config.image_shape)
    return nn.Sequential(nn.Flatten(), mlp(d, config.hidden, config.num_classes))


@register_model(
    "ssvae",
    "vae",
    ("sample", "encode", "class_condition"),
    "semi-supervised VAE (Kingma M2): classifier inside, labelled + unlabelled batches",
)
class SSVAE(GenerativeModel):
    """M2 with MLP networks and a Bernoulli decoder, as in the paper."""

    Config = SSVAEConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: SSVAEConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.num_classes < 2:
            raise GenzooError("ssvae needs at least 2 classes")
        d, k, zd = math.prod(config.image_shape), config.num_classes, config.latent_dim
        self.classifier = make_classifier(config)
        self.encoder = mlp(d + k, config.hidden, 2 * zd)
        self.decoder = mlp(zd + k, config.hidden, d)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or not info.num_classes:
            raise GenzooError(f"model 'ssvae' needs labelled image data; {info.name!r} has no classes")
        return {"image_shape": tuple(info.shape), "num_classes": info.num_classes}

    # -- pieces -------------------------------------------------------------------------------------------
    def class_logits(self, x: Tensor) -> Tensor:
        return self.classifier(x).float()

    def neg_elbo(self, x: Tensor, y: Tensor, eps: Tensor | None = None) -> Tensor:
        """L(x, y) = -E_q(z|x,y)[log p(x|y,z)] + KL(q(z|x,y) || p(z)) - log p(y), per example (nats).

        `y` is one-hot (or any point of the simplex); `eps` fixes the reparameterisation noise.
        """
        h = self.encoder(torch.cat([x.flatten(1), y], 1)).float()
        mu, logvar = h.chunk(2, 1)
        logvar = logvar.clamp(-12.0, 8.0)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + eps * torch.exp(0.5 * logvar)
        logits = self.decoder(torch.cat([z, y], 1)).float()
        rec = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return rec + kl + math.log(self.config.num_classes)

    def unlabelled_loss(self, x: Tensor, eps: Tensor | None = None) -> Tensor:
        """U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)) per example: every class decoded in one batched pass."""
        n, k = len(x), self.config.num_classes
        log_q = torch.log_softmax(self.class_logits(x), 1)
        ys = F.one_hot(torch.arange(k, device=x.device).repeat_interleave(n), k).float()
        xs = x.repeat(k, *([1] * (x.ndim - 1)))
        eps = None if eps is None else eps.repeat(k, 1)
        per_class = self.neg_elbo(xs, ys, eps).view(k, n).t()  # (n, k)
        q = log_q.exp()
        return (q * per_class).sum(1) + (q * log_q).sum(1)

    # -- protocol -----------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch
        y = torch.as_tensor(y, device=x.device).long()
        lab = y >= 0
        zero = x.new_zeros(())
        parts: dict[str, Tensor] = {}
        total_elbo = zero
        if lab.any():
            xl, yl = x[lab], y[lab]
            labelled = self.neg_elbo(xl, F.one_hot(yl, self.config.num_classes).float())
            ce = F.cross_entropy(self.class_logits(xl), yl)
            total_elbo = total_elbo + labelled.sum()
            parts["labelled"] = labelled.mean().detach()
            parts["class_ce"] = ce.detach()
        else:
            ce = zero
        if (~lab).any():
            unlabelled = self.unlabelled_loss(x[~lab])
            total_elbo = total_elbo + unlabelled.sum()
            parts["unlabelled"] = unlabelled.mean().detach()
        loss = total_elbo / len(x) + self.config.class_weight * ce
        return {"loss": loss, **parts}

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """Class probabilities q(y|x), (N, num_classes)."""
        self.check_input(x)
        return torch.softmax(self.class_logits(x.to(self.device)), 1)

    def encode(self, x: Tensor) -> Tensor:
        """[posterior mean of z given the predicted class, one-hot class]: (N, latent_dim + num_classes)."""
        self.check_input(x)
        x = x.to(self.device)
        q = torch.softmax(self.class_logits(x), 1)
        y = F.one_hot(q.argmax(1), self.config.num_classes).float()
        mu = self.encoder(torch.cat([x.flatten(1), y], 1)).float().chunk(2, 1)[0]
        return torch.cat([mu, y], 1)

    def decode(self, z: Tensor) -> Tensor:
        """Latents from `encode` (style, class code) -> images; a soft class code blends classes."""
        z = z.to(self.device).float()
        out = torch.sigmoid(self.decoder(z).float())
        return out.view(len(z), *self.config.image_shape)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | int | None = None) -> Tensor:
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        k = self.config.num_classes
        y = torch.randint(k, (n,)) if labels is None else torch.as_tensor(labels).long().reshape(-1).expand(n)
        if (y < 0).any() or (y >= k).any():
            raise GenzooError(f"labels must be class indices in [0, {k})")
        z = torch.randn(n, self.config.latent_dim, device=self.device)
        return self.decode(torch.cat([z, F.one_hot(y.to(self.device), k).float()], 1))

    def sample_grid(self, n: int = 64) -> Tensor:
        return self.sample(n, labels=torch.arange(n) % self.config.num_classes)
