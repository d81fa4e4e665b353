"""Quality while training: what `fit(eval_every=N)` measures every N steps, cheaply.

A healthy training loss says little about samples: a DDPM trained minutes on 25x25 faces printed a loss of
0.03-0.05 and sampled pure noise. So every `eval_every` steps the loop draws a sample grid and measures what
the model can be measured by, cheaply: the validation loss (with `val_data`), bits per dimension (models with
a likelihood; images are discrete, so this is the usual bits/dim of image models), and classifier-FID of a
few hundred samples against held-out images (image models that sample; diffusion models are sampled with
DDIM-25 for this figure). The engine logs the figures and shows them on the progress line. All of it runs
with its own randomness (`rng.isolated`), so evaluating does not change the weights a run trains.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.base import GenerativeModel
from genzoo.engine import rng
from genzoo.errors import GenzooError
from genzoo.protocols import ClassConditional, Likelihood, Sampler, can


def _images(data: Dataset, n: int) -> Tensor | None:
    """Up to n images of an image dataset as one tensor."""
    info = getattr(data, "info", None)
    if info is None or info.kind != "image":
        return None
    if hasattr(data, "images"):
        return data.images[:n].float()
    items = [data[i] for i in range(min(n, len(data)))]  # type: ignore[arg-type]
    return torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items]).float()


def cheap_samples(model: GenerativeModel, n: int) -> Tensor:
    """n samples, with a short sampler for models whose `sample` takes `steps` (diffusion)."""
    params = inspect.signature(model.sample).parameters
    kwargs: dict[str, Any] = {}
    if "steps" in params:
        kwargs["steps"] = 25
    if "scheduler" in params:
        kwargs["scheduler"] = "ddim"
    if can(model, ClassConditional) and model.num_classes:
        kwargs["labels"] = torch.arange(n) % model.num_classes
    return model.sample(n, **kwargs)


class Evaluator:
    """Quality figures of the (EMA) model at a step: {"bits_per_dim": ..., "fid": ...}; grids to out/samples."""

    def __init__(self, train: Dataset, held_out: Dataset | None, out: Path | None, n_samples: int = 256,
                 fid: bool = True) -> None:
        self.train, self.held_out = train, held_out
        self.out = Path(out) / "samples" if out is not None else None
        self.n = n_samples
        self.fid = fid
        self.real = _images(held_out if held_out is not None else train, n_samples)

    @torch.no_grad()
    def __call__(self, model: GenerativeModel, step: int) -> dict[str, float]:
        was_training = model.training
        model.eval()
        figures: dict[str, float] = {}
        try:
            with rng.isolated():
                torch.manual_seed(step)
                figures.update(self._likelihood(model))
                samples = self._samples(model)
                if samples is not None:
                    if self.out is not None:
                        from genzoo.viz import save_grid

                        save_grid(samples[:64].float(), self.out / f"step_{step:07d}.png")
                    if self.fid and self.real is not None and len(samples) >= 2:
                        figures["fid"] = self._fid(samples)
        finally:
            model.train(was_training)
        return figures

    def _likelihood(self, model: GenerativeModel) -> dict[str, float]:
        if not can(model, Likelihood):
            return {}
        data = self.held_out if self.held_out is not None else self.train
        x = self.real if self.real is not None else _vectors(data, self.n)
        if x is None:
            return {}
        nll = -model.log_prob(x.to(model.device)).double().mean()
        if not torch.isfinite(nll):
            return {"nll": float("inf")}
        if self.real is not None:
            return {"bits_per_dim": float(nll) / (x[0].numel() * math.log(2))}
        return {"nll": float(nll)}

    def _samples(self, model: GenerativeModel) -> Tensor | None:
        info = model.data_info
        if info is None or info.kind != "image" or not can(model, Sampler):
            return None
        try:
            return cheap_samples(model, self.n if self.fid else 64).float().cpu()
        except GenzooError:
            return None

    def _fid(self, samples: Tensor) -> float:
        from genzoo.metrics.fid import sample_metrics

        name = self.train.info.name  # type: ignore[attr-defined]
        return sample_metrics(self.real, samples, name, self.train, self.held_out, which=("fid",))["fid_classifier"]


def _vectors(data: Dataset, n: int) -> Tensor | None:
    info = getattr(data, "info", None)
    if info is None or info.kind != "vector":
        return None
    if hasattr(data, "x"):
        return data.x[:n].float()
    return None
