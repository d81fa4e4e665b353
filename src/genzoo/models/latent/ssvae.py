"""Semi-supervised VAE: the M2 model of Kingma, Rezende, Mohamed & Welling (2014).

Generative model p(y) p(z) p(x | y, z) with y a class and z a continuous "style"; inference networks
q(z | x, y) and a classifier q(y | x). A labelled example contributes the negative ELBO L(x, y); an
unlabelled one the negative ELBO with y marginalised under the classifier,

    U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)),

and labelled examples also train the classifier directly (weight `class_weight`, the paper's alpha), since
otherwise q(y|x) only learns from the unlabelled term. Batches are ordinary `(image, label)` pairs with
label -1 for unlabelled images, so `genzoo.fit` trains it like any other model.

M1+M2 stacking (the paper's best model): with `m1_of=RUN`, a saved unsupervised VAE (M1, e.g. `vae` trained
on every training image) turns images into its posterior means, and M2 runs on those standardised features
with a diagonal-Gaussian likelihood instead of on pixels. Inputs and outputs stay images: `classify` encodes
through M1, `decode`/`sample` decode through it. Like `ldm`'s `latent_of`, M1 is referenced by path, frozen
and not copied into the saved model.
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
from genzoo.protocols import ClassConditional, Classifier, LatentModel, Sampler
from genzoo.registry import register_model


@dataclass
class SSVAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    latent_dim: int = 32
    hidden: int = 256
    class_weight: float = 50.0  # alpha: weight of the classification loss on labelled examples (nats)
    m1_of: str = ""  # a saved M1 (any model with a vector `encode`/`decode`): M2 then models its latents


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
    )


def make_classifier(config: SSVAEConfig, in_dim: int | None = None) -> nn.Sequential:
    """q(y|x): the classifier M2 trains; the semi-supervised app trains the same network on labels alone.

    `in_dim` defaults to the pixel count; M1+M2 feeds it M1's latent features instead.
    """
    d = math.prod(config.image_shape) if in_dim is None else in_dim
    return nn.Sequential(nn.Flatten(), mlp(d, config.hidden, config.num_classes))


def load_m1(run: str) -> tuple[Any, int]:
    """The frozen M1 at `run` and its latent size; refused in one line if it has no vector latent."""
    from genzoo.hub import load

    m1 = load(run)
    m1.requires_grad_(False).eval()
    dim = getattr(m1.config, "latent_dim", None)
    if not isinstance(dim, int) or not hasattr(m1, "decode"):
        raise GenzooError(f"{run} has no vector latent with encode/decode; m1_of needs a model like 'vae'")
    return m1, dim


@register_model("ssvae", "semi-supervised VAE (Kingma M2): classifier inside, labelled + unlabelled batches")
class SSVAE(GenerativeModel, Sampler, ClassConditional, LatentModel, Classifier):
    """M2 with MLP networks and a Bernoulli decoder, as in the paper."""

    quick = Recipe("digits", {"hidden": 32, "latent_dim": 4})

    Config = SSVAEConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: SSVAEConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.num_classes < 2:
            raise GenzooError("ssvae needs at least 2 classes")
        k, zd = config.num_classes, config.latent_dim
        if config.m1_of:
            m1, d = load_m1(config.m1_of)
            # kept outside the module tree: not trained, not saved (it is reloaded from m1_of)
            object.__setattr__(self, "m1", m1)
            # M1 features are standardised with statistics of the first batch seen (0 = not yet set)
            self.register_buffer("feature_mean", torch.zeros(d))
            self.register_buffer("feature_std", torch.zeros(d))
        else:
            object.__setattr__(self, "m1", None)
            d = math.prod(config.image_shape)
        self.feature_dim = d
        self.classifier = make_classifier(config, d)
        self.encoder = mlp(d + k, config.hidden, 2 * zd)
        # pixels: Bernoulli logits; M1 features: Gaussian mean and log-variance
        self.decoder = mlp(zd + k, config.hidden, d if self.m1 is None else 2 * d)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """Move the frozen M1 with the model (it sits outside the module tree)."""
        if self.m1 is not None:
            self.m1._apply(fn, recurse)
        return super()._apply(fn, recurse)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or not info.num_classes:
            raise GenzooError(f"model 'ssvae' needs labelled image data; {info.name!r} has no classes")
        return {"image_shape": tuple(info.shape), "num_classes": info.num_classes}

    # -- pieces -------------------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """What M2 models: flattened pixels, or standardised M1 posterior means with `m1_of`."""
        if self.m1 is None:
            return x.flatten(1)
        with torch.no_grad():
            f = self.m1.encode(x).float()
            if not bool(self.feature_std.any()):
                self.feature_mean.copy_(f.mean(0))
                self.feature_std.copy_(f.std(0) + 1e-4)
        return (f - self.feature_mean) / self.feature_std

    def class_logits(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x)).float()

    def neg_elbo(self, x: Tensor, y: Tensor, eps: Tensor | None = None) -> Tensor:
        """L(x, y) = -E_q(z|x,y)[log p(x|y,z)] + KL(q(z|x,y) || p(z)) - log p(y), per example (nats).

        `y` is one-hot (or any point of the simplex); `eps` fixes the reparameterisation noise.
        """
        return self._neg_elbo(self.features(x), y, eps)

    def _neg_elbo(self, f: Tensor, y: Tensor, eps: Tensor | None) -> Tensor:
        h = self.encoder(torch.cat([f, y], 1)).float()
        mu, logvar = h.chunk(2, 1)
        logvar = logvar.clamp(-12.0, 8.0)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + eps * torch.exp(0.5 * logvar)
        out = self.decoder(torch.cat([z, y], 1)).float()
        if self.m1 is None:
            rec = F.binary_cross_entropy_with_logits(out, f, reduction="none").sum(1)
        else:
            mean, log_var = out.chunk(2, 1)
            log_var = log_var.clamp(-8.0, 4.0)
            rec = 0.5 * ((f - mean).pow(2) / log_var.exp() + log_var + math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return rec + kl + math.log(self.config.num_classes)

    def unlabelled_loss(self, x: Tensor, eps: Tensor | None = None) -> Tensor:
        """U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)) per example: every class decoded in one batched pass."""
        return self._unlabelled(self.features(x), eps)

    def _unlabelled(self, f: Tensor, eps: Tensor | None) -> Tensor:
        n, k = len(f), self.config.num_classes
        log_q = torch.log_softmax(self.classifier(f).float(), 1)
        ys = F.one_hot(torch.arange(k, device=f.device).repeat_interleave(n), k).float()
        eps = None if eps is None else eps.repeat(k, 1)
        per_class = self._neg_elbo(f.repeat(k, 1), ys, eps).view(k, n).t()  # (n, k)
        q = log_q.exp()
        return (q * per_class).sum(1) + (q * log_q).sum(1)

    # -- protocol -----------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch
        y = torch.as_tensor(y, device=x.device).long()
        f = self.features(x)
        lab = y >= 0
        zero = x.new_zeros(())
        parts: dict[str, Tensor] = {}
        total_elbo = zero
        if lab.any():
            fl, yl = f[lab], y[lab]
            labelled = self._neg_elbo(fl, F.one_hot(yl, self.config.num_classes).float(), None)
            ce = F.cross_entropy(self.classifier(fl).float(), yl)
            total_elbo = total_elbo + labelled.sum()
            parts["labelled"] = labelled.mean().detach()
            parts["class_ce"] = ce.detach()
        else:
            ce = zero
        if (~lab).any():
            unlabelled = self._unlabelled(f[~lab], None)
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
        f = self.features(x.to(self.device))
        q = torch.softmax(self.classifier(f).float(), 1)
        y = F.one_hot(q.argmax(1), self.config.num_classes).float()
        mu = self.encoder(torch.cat([f, y], 1)).float().chunk(2, 1)[0]
        return torch.cat([mu, y], 1)

    def decode(self, z: Tensor) -> Tensor:
        """Latents from `encode` (style, class code) -> images; a soft class code blends classes."""
        out = self.decoder(z.to(self.device).float()).float()
        if self.m1 is None:
            return torch.sigmoid(out).view(len(z), *self.config.image_shape)
        mean = out.chunk(2, 1)[0] * self.feature_std + self.feature_mean
        return self.m1.decode(mean).float().view(len(z), *self.config.image_shape)

    # the latent space is already flat vectors: (N, D)
    encode_latent = encode
    decode_latent = decode

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
