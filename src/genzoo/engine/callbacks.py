"""What the loop does beside training at intervals: sample grids (`sample_every`).

The quality figures of `eval_every` come from `genzoo.metrics.during_training` (metrics sit above the
engine, so `genzoo.fit` hands the engine an evaluator built there).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.base import GenerativeModel
from genzoo.engine import rng


def sample_grid(model: GenerativeModel, out: Path, step: int, n: int = 64) -> torch.Tensor | None:
    """Save a grid from `model` under out/samples (the `sample_every` option), outside the training RNG;
    returns the grid (C, H, W) for the loggers, or None for a model without image samples."""
    was_training = model.training
    model.eval()
    try:
        with rng.isolated(), torch.no_grad():
            torch.manual_seed(step)
            images = model.sample_grid(n)
    finally:
        model.train(was_training)
    if images is None:
        return None
    from genzoo.viz import make_grid, save_grid

    save_grid(images.float(), Path(out) / "samples" / f"step_{step:07d}.png")
    return torch.from_numpy(make_grid(images.float())).permute(2, 0, 1)
