"""The GAN that `dcgan`, `wgan_gp` and `cgan` are presets of (each preset in its own module).

The engine drives GANs through its manual-optimisation hook: `optimizers_for` returns the generator and
discriminator optimizers (TTUR: the discriminator's lr is `lr * lr_d_ratio`), and `manual_step` does one
discriminator update per batch and a generator update every `n_critic` batches. One batch is one training
step: `fit(max_steps=N)` trains on N batches (N D and N G updates for dcgan/cgan; N critic and
N / n_critic G updates for wgan_gp), as for every other model.

The generator's EMA lives inside the model (`generator_ema`), not in the engine, because the engine's EMA
would also average the discriminator, which is wasted work and, after training, not the discriminator
that was actually trained against.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.gan import losses
from genzoo.models.gan.nets import ConvDiscriminator, ConvGenerator, MLPDiscriminator, MLPGenerator
from genzoo.models.gan.optim import adam_pair, ema_update
from genzoo.protocols import ClassConditional, NoiseGenerator, Sampler


@dataclass
class GANConfig:
    """data_shape: (C, H, W) images or (D,) vectors. loss: bce | hinge | wasserstein.
    d_norm: batch | none (none is required with gp_weight/r1_weight). n_critic: D updates per G update.
    lr_d_ratio: TTUR, the discriminator lr is fit's lr times this. ema_decay: 0 turns generator EMA off.
    Class-conditional (num_classes > 0): `projection` adds D's class projection; aux_weight > 0 adds an
    auxiliary classifier on D's features (AC-GAN), trained on real labels, whose loss on the fakes' labels
    the generator also minimises."""

    data_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 0
    latent_dim: int = 64
    g_width: int = 32
    d_width: int = 32
    upsamples: int = 2
    loss: str = "bce"
    d_norm: str = "batch"
    spectral_norm: bool = False
    gp_weight: float = 0.0
    r1_weight: float = 0.0
    n_critic: int = 1
    lr_d_ratio: float = 1.0
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.999
    projection: bool = True
    aux_weight: float = 0.0


class GAN(GenerativeModel, Sampler, ClassConditional, NoiseGenerator):
    """A generator G(z[, y]) and a discriminator D(x[, y]) trained against each other."""

    Config = GANConfig
    default_lr = 5e-4
    default_ema = None  # the generator EMA is kept by the model itself (see module docstring)
    manual_optimization = True

    def __init__(self, config: GANConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        _validate(config)
        k = config.num_classes
        shape = tuple(config.data_shape)
        if len(shape) == 3:
            self.generator: nn.Module = ConvGenerator(config.latent_dim, shape, config.g_width, config.upsamples, k)
            self.discriminator: nn.Module = ConvDiscriminator(
                shape,
                config.d_width,
                config.upsamples,
                config.d_norm,
                config.spectral_norm,
                k,
                config.projection,
                config.aux_weight > 0,
            )
        else:
            self.generator = MLPGenerator(config.latent_dim, shape[0], config.g_width, k)
            self.discriminator = MLPDiscriminator(
                shape[0], config.d_width, config.spectral_norm, k, config.projection, config.aux_weight > 0
            )
        self.generator_ema: nn.Module | None = None
        if config.ema_decay > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        # discriminator updates so far: schedules the n_critic generator steps and the EMA warm-up
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        shape = tuple(info.shape or ())
        if not ((info.kind == "image" and len(shape) == 3) or (info.kind == "vector" and len(shape) == 1)):
            raise GenzooError(
                f"model {cls.model_name!r} needs image or vector data; {info.name!r} is {info.kind} "
                f"data with shape {info.shape}"
            )
        return {"data_shape": shape}

    # -- pieces -----------------------------------------------------------------------------------------
    def _labels(self, labels: Tensor | int | None, n: int) -> Tensor | None:
        k = self.config.num_classes
        if not k:
            return None
        if labels is None:
            raise GenzooError(f"model {self.model_name!r} is class-conditional: pass labels=... (0..{k - 1})")
        y = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if y.numel() == 1 and n > 1:
            y = y.expand(n)
        if y.numel() != n or (y < 0).any() or (y >= k).any():
            raise GenzooError(f"labels must be {n} class indices in [0, {k})")
        return y

    def _unpack(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        x, y = batch if isinstance(batch, (list, tuple)) else (batch, None)
        if self.config.num_classes and (y is None or (y < 0).any()):
            raise GenzooError(
                f"model {self.model_name!r} needs labelled data (every label in 0..{self.config.num_classes - 1})"
            )
        return x, (y if self.config.num_classes else None)

    def generate(self, n: int, labels: Tensor | None = None, use_ema: bool = False) -> Tensor:
        z = torch.randn(n, self.config.latent_dim, device=self.device)
        g = self.generator_ema if (use_ema and self.generator_ema is not None) else self.generator
        return g(z, labels)

    # -- training ---------------------------------------------------------------------------------------
    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        return adam_pair(self.generator, self.discriminator, lr, tuple(self.config.betas), self.config.lr_d_ratio)

    def manual_step(self, batch: Any, optimizers: list[torch.optim.Optimizer], backward: Any) -> dict[str, Tensor]:
        opt_g, opt_d = optimizers
        cfg = self.config
        real, y = self._unpack(batch)
        n = len(real)
        d = self.discriminator

        # discriminator (critic) update. On batches that also update G, the same fakes (still attached to
        # G's graph) serve both players, as in the DCGAN reference loop: one generator pass, not two.
        g_step = (int(self.updates) + 1) % cfg.n_critic == 0
        if g_step:
            fake_g = self.generate(n, y)
            fake = fake_g.detach()
        else:
            with torch.no_grad():
                fake = self.generate(n, y)
        real_scores, real_logits = d.score_and_logits(real, y)
        real_scores, fake_scores = real_scores.float(), d(fake, y).float()
        d_loss = losses.d_loss(cfg.loss, real_scores, fake_scores)
        parts: dict[str, Tensor] = {}
        total = d_loss
        if real_logits is not None:
            aux = F.cross_entropy(real_logits.float(), y)
            total = total + cfg.aux_weight * aux
            parts["d_class_loss"] = aux.detach()
        if cfg.gp_weight:
            gp = losses.gradient_penalty(lambda v: d(v, y), real, fake)
            total = total + cfg.gp_weight * gp
            parts["gradient_penalty"] = gp.detach()
        if cfg.r1_weight:
            r1 = losses.r1_penalty(lambda v: d(v, y), real)
            total = total + 0.5 * cfg.r1_weight * r1
            parts["r1_penalty"] = r1.detach()
        opt_d.zero_grad(set_to_none=True)
        backward(total)
        parts["d_grad_norm"] = losses.grad_norm(list(d.parameters()))
        opt_d.step()
        self.updates += 1
        parts.update(
            loss=total.detach(),
            d_loss=d_loss.detach(),
            d_real=real_scores.mean().detach(),
            d_fake=fake_scores.mean().detach(),
        )

        # generator update every n_critic discriminator updates
        if g_step:
            d.requires_grad_(False)  # G's loss needs gradients through D, not for D
            try:
                fake_scores_g, fake_logits = d.score_and_logits(fake_g, y)
                g_loss = losses.g_loss(cfg.loss, fake_scores_g.float())
                if fake_logits is not None:
                    g_class = F.cross_entropy(fake_logits.float(), y)
                    g_loss = g_loss + cfg.aux_weight * g_class
                    parts["g_class_loss"] = g_class.detach()
                opt_g.zero_grad(set_to_none=True)
                backward(g_loss)
            finally:
                d.requires_grad_(True)
            parts["g_grad_norm"] = losses.grad_norm(list(self.generator.parameters()))
            opt_g.step()
            self._update_ema()
            parts["g_loss"] = g_loss.detach()
        return parts

    @torch.no_grad()
    def _update_ema(self) -> None:
        """The generator EMA's step, counted in generator updates (`ema_update`)."""
        if self.generator_ema is not None:
            steps = float(self.updates) / self.config.n_critic
            ema_update(self.generator_ema, self.generator, self.config.ema_decay, steps)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Validation objective: the discriminator loss on real vs generated (GANs have no likelihood)."""
        real, y = self._unpack(batch)
        with torch.no_grad():
            fake = self.generate(len(real), y)
            d_loss = losses.d_loss(
                self.config.loss, self.discriminator(real, y).float(), self.discriminator(fake, y).float()
            )
        return {"loss": d_loss}

    # -- protocol ---------------------------------------------------------------------------------------
    @property
    def noise_dim(self) -> int:
        return int(self.config.latent_dim)

    def decode_noise(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The generator `sample` uses (the EMA one where kept) on given noise z (N, latent_dim): data space."""
        if self.config.num_classes and labels is None:
            k = self.config.num_classes
            raise GenzooError(f"model {self.model_name!r} is class-conditional: pass labels (0..{k - 1})")
        g = self.generator_ema if self.generator_ema is not None else self.generator
        return g(z.to(self.device), None if labels is None else labels.to(self.device).long())

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | int | None = None, use_ema: bool = True) -> Tensor:
        """n samples (images in [0, 1]); class-conditional models take `labels` (one int or n of them)."""
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        return self.generate(n, self._labels(self.sample_labels(labels, n), n), use_ema=use_ema)

    def sample_grid(self, n: int = 64) -> Tensor | None:
        if len(self.config.data_shape) != 3:
            return None
        if self.config.num_classes:
            return self.sample(n, labels=torch.arange(n) % self.config.num_classes)
        return self.sample(n)


def _validate(config: GANConfig) -> None:
    if config.loss not in losses.LOSSES:
        raise GenzooError(f"unknown GAN loss {config.loss!r}; choose one of {', '.join(losses.LOSSES)}")
    if config.d_norm not in ("batch", "none"):
        raise GenzooError(f"d_norm must be 'batch' or 'none', got {config.d_norm!r}")
    if config.d_norm == "batch" and (config.gp_weight or config.r1_weight):
        raise GenzooError(
            "gradient penalties need d_norm='none' (BatchNorm mixes examples, so per-example "
            "input gradients are meaningless)"
        )
    if config.n_critic < 1:
        raise GenzooError(f"n_critic must be at least 1, got {config.n_critic}")
    if not 0 <= config.ema_decay < 1:
        raise GenzooError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
    if config.aux_weight < 0:
        raise GenzooError(f"aux_weight must be at least 0, got {config.aux_weight}")
    if len(config.data_shape) not in (1, 3):
        raise GenzooError(f"data_shape must be (C, H, W) or (D,), got {tuple(config.data_shape)}")
