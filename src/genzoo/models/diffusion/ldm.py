"""Latent diffusion (Rombach et al. 2022): diffuse in the latent space of a trained genzoo autoencoder.

`gz.create("ldm", data=train, latent_of="runs/vae")` loads the saved model at `latent_of` (anything with
`encode`/`decode`, e.g. the foundation's `vae`), freezes it, and learns a denoiser over its latents. The
foundation VAE's latents are vectors, so the denoiser is a residual MLP with the same time embedding as the
U-Net; training, sampling (unclipped, since latents are unbounded) and the schedulers are the diffusion
pipeline's (`pipeline.py`), and samples are decoded at the end.
The autoencoder is referenced by path, not copied: a saved `ldm` needs its `latent_of` run to reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.pipeline import DiffusionModel
from genzoo.nn.unet import timestep_embedding
from genzoo.protocols import Sampler
from genzoo.registry import register_model


@dataclass
class LDMConfig:
    latent_of: str = ""
    hidden: int = 512
    depth: int = 4
    timesteps: int = 1000
    # linear + eps, as Stable Diffusion. Latents are not clipped, and with cosine's final alpha_bar (2e-9)
    # the first step's x0 = (z - sqrt(1-ab) eps) / sqrt(ab) multiplies eps errors by ~2e4 (cosine wants "v")
    schedule: str = "linear"
    prediction: str = "eps"
    sampler: str = "ddim"
    sample_steps: int = 50
    eta: float = 0.0


class ResidualMLP(nn.Module):
    """Denoiser for vector latents: (z_t, t) -> output, residual blocks modulated by the time embedding."""

    def __init__(self, dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "norm": nn.LayerNorm(hidden),
                    "emb": nn.Linear(hidden, 2 * hidden),
                    "fc1": nn.Linear(hidden, 2 * hidden),
                    "fc2": nn.Linear(2 * hidden, hidden),
                }
            )
            for _ in range(depth)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        h = self.inp(z)
        emb = F.silu(self.time(timestep_embedding(t, self.hidden)))
        for b in self.blocks:
            scale, shift = b["emb"](emb).chunk(2, dim=1)
            u = b["norm"](h) * (1 + scale) + shift
            h = h + b["fc2"](F.silu(b["fc1"](u)))
        return self.out(h)


@register_model("ldm", "latent diffusion over a saved genzoo autoencoder (latent_of=RUN); decodes to images")
class LatentDiffusion(DiffusionModel, Sampler):
    """Diffusion over `latent_of`'s latents; `sample(n, scheduler=..., steps=...)` returns decoded images."""

    quick = Recipe("digits", {"hidden": 32, "depth": 1, "timesteps": 100, "sample_steps": 3},
                   runs={"latent_of": ("vae", Recipe("digits", {"hidden": 8, "latent_dim": 4}))})

    Config = LDMConfig
    default_lr = 1e-3
    default_ema = 0.995
    # the latents are unclipped, so bf16 rounding of the denoiser's output would go straight into them
    sample_autocast = False

    def __init__(self, config: LDMConfig, data_info: DataInfo | None = None) -> None:
        if not config.latent_of:
            raise GenzooError("ldm needs latent_of=RUN: the directory of a trained model with encode/decode")
        super().__init__(config, data_info)
        from genzoo.hub import load

        auto = load(config.latent_of)
        auto.requires_grad_(False).eval()
        # kept outside the module tree: not trained, not saved (it is reloaded from latent_of)
        object.__setattr__(self, "autoencoder", auto)
        dim = getattr(auto.config, "latent_dim", None)
        if not isinstance(dim, int):
            raise GenzooError(f"{config.latent_of} has no vector latent (config.latent_dim); ldm needs one")
        self.latent_dim = dim
        self.net = ResidualMLP(dim, config.hidden, config.depth)
        # latents are divided by their std over the first training batch (LDM's "scale factor")
        self.register_buffer("latent_scale", torch.zeros(()))

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """Move the frozen autoencoder with the model (it sits outside the module tree)."""
        self.autoencoder._apply(fn, recurse)
        return super()._apply(fn, recurse)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def clip_range(self) -> None:
        return None  # latents are unbounded

    def denoiser(self, x: Tensor, t: Tensor, cond: None = None) -> Tensor:
        return self.net(x, t)

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Images -> scaled latents (the space the diffusion runs in)."""
        z = self.autoencoder.encode(x.to(self.device)).float()
        if float(self.latent_scale) == 0:
            self.latent_scale.fill_(float(z.std()) + 1e-8)
        return z / self.latent_scale

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        if float(self.latent_scale) == 0:
            raise GenzooError("this ldm has not been trained yet (its latent scale is unset)")
        return self.autoencoder.decode(z.to(self.device) * self.latent_scale).float().clamp(0, 1)

    def to_space(self, data: Tensor) -> Tensor:
        return self.encode(data)

    def from_space(self, x: Tensor) -> Tensor:
        return self.decode(x)
