"""Callbacks every family shares: periodic sample grids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from genzoo.viz import save_grid


class SampleGrid(L.Callback):
    """Every `every` steps, draw a grid from the (EMA) model and save it as PNG under `out/samples/`.

    A glance at these catches mode collapse, divergence and blurry decoders long before a metric does.
    """

    def __init__(self, out: Path, every: int, n: int = 64) -> None:
        self.out = Path(out) / "samples"
        self.every = every
        self.n = n

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step == 0 or step % self.every:
            return
        model = pl_module.trained_model()
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                images = model.sample_grid(self.n)
        finally:
            model.train(was_training)
        if images is not None:
            save_grid(images.float(), self.out / f"step_{step:07d}.png")
