"""The model as the training loop holds it: the network, its EMA copy, and the one step every family takes.

The model supplies the maths (`loss`, or `manual_step` for multi-optimizer models such as GANs); this
wrapper supplies what every family needs the same way: the EMA of the weights (updated right after each
optimizer step, so a checkpoint written at that step holds the EMA of that step), the trained weights to
keep, and a `forward` that is the training loss, so Lightning's DDP/FSDP wrappers see every forward pass.
Its state dict (`model.*`, `ema.*`) is what the checkpoint stores.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.base import GenerativeModel
from genzoo.errors import GenzooError


class NonFiniteLoss(GenzooError):
    """Training produced NaN/inf; the run stops and the last good checkpoint stays as it was."""


class LitGenerative(nn.Module):
    def __init__(self, model: GenerativeModel, ema_decay: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.ema_decay = ema_decay
        self.ema: GenerativeModel | None = None
        if ema_decay:
            self.ema = copy.deepcopy(model)
            self.ema.requires_grad_(False)
        self._ema_pairs: tuple[list[Tensor], list[Tensor], list[tuple[Tensor, Tensor]]] | None = None

    def forward(self, batch: Any) -> dict[str, Tensor]:
        """The training objective of one batch (automatic optimisation)."""
        return self.model.loss(batch)

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        if self._ema_pairs is None:  # the tensors do not change during a run: list them once
            self._ema_pairs = (list(self.ema.parameters()), list(self.model.parameters()),
                               [(e, m) for e, m in zip(self.ema.buffers(), self.model.buffers()) if e.numel()])
        ema_p, model_p, buffers = self._ema_pairs
        torch._foreach_lerp_(ema_p, model_p, 1.0 - self.ema_decay)
        for eb, mb in buffers:
            eb.copy_(mb)

    def trained_model(self) -> GenerativeModel:
        """The weights to keep: the EMA copy where EMA is on, else the raw model."""
        return self.ema if self.ema is not None else self.model

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._ema_pairs = None  # moved to another device or dtype: the cached tensor lists are stale
        return super()._apply(fn, *args, **kwargs)
