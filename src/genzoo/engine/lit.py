"""One LightningModule around any genzoo model.

The model supplies the maths (`loss`, or `manual_step` for multi-optimizer models); this wrapper supplies
what every family needs the same way: optimizers, EMA of weights, a NaN/inf guard, logging, validation
loss for early stopping, and RNG state in checkpoints so a resumed run continues the same random stream.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from genzoo.base import GenerativeModel
from genzoo.errors import GenzooError


class NonFiniteLoss(GenzooError):
    """Training produced NaN/inf; the run stops and the last good checkpoint stays as it was."""


class LitGenerative(L.LightningModule):
    def __init__(self, model: GenerativeModel, lr: float, ema_decay: float | None = None,
                 warmup_steps: int = 0) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.warmup_steps = warmup_steps
        self.ema_decay = ema_decay
        self.ema: GenerativeModel | None = None
        if ema_decay:
            self.ema = copy.deepcopy(model)
            self.ema.requires_grad_(False)
        self.automatic_optimization = not model.manual_optimization

    # -- training ---------------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        if self.automatic_optimization:
            parts = self.model.loss(batch)
        else:
            opts = self.optimizers()
            opts = opts if isinstance(opts, list) else [opts]
            parts = self.model.manual_step(batch, opts, self.manual_backward)
        loss = parts["loss"]
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLoss(
                f"loss became {loss.item()} at step {self.global_step}; training stopped and the last good "
                "checkpoint was kept (try a lower lr, gradient clipping or precision='32-true')"
            )
        batch_size = _batch_size(batch)
        self.log_dict({f"train/{k}": v.detach().float() for k, v in parts.items() if v.numel() == 1},
                      prog_bar=False, batch_size=batch_size)
        self.log("loss", loss.detach().float(), prog_bar=True, logger=False, batch_size=batch_size)
        return loss if self.automatic_optimization else None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            d = self.ema_decay
            ema_p = list(self.ema.parameters())
            model_p = list(self.model.parameters())
            torch._foreach_lerp_(ema_p, model_p, 1.0 - d)
            for eb, mb in zip(self.ema.buffers(), self.model.buffers()):
                eb.copy_(mb)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        model = self.ema if self.ema is not None else self.model
        parts = model.validation_loss(batch)
        self.log("val_loss", parts["loss"].detach().float(), prog_bar=True, sync_dist=True,
                 batch_size=_batch_size(batch))

    def configure_optimizers(self) -> Any:
        opts = self.model.optimizers_for(self.lr)
        if self.warmup_steps and len(opts) == 1:
            w = self.warmup_steps
            sched = torch.optim.lr_scheduler.LambdaLR(opts[0], lambda s: min(1.0, (s + 1) / w))
            return {"optimizer": opts[0], "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        return opts

    # -- checkpoint extras: RNG streams --------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        np_state = np.random.get_state()
        py_state = random.getstate()
        checkpoint["genzoo_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("genzoo_rng")
        if not rng:
            return
        torch.set_rng_state(rng["torch"])
        n = rng["numpy"]
        np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
        p = rng["python"]
        random.setstate((p[0], tuple(p[1]), p[2]))

    def trained_model(self) -> GenerativeModel:
        """The weights to keep: the EMA copy where EMA is on, else the raw model."""
        return self.ema if self.ema is not None else self.model


def _batch_size(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], Tensor):
        return len(batch[0])
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, Tensor):
                return len(v)
    return 1
