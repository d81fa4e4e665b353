"""Every random stream a training step can draw from, captured and restored as one value.

A resumed run continues bit for bit only if torch (CPU and every CUDA device), NumPy and Python's `random`
all pick up where the checkpoint left them. Work done beside training (validation, sample grids, quality
figures) runs inside `isolated()`, so it never moves the training stream: a run with periodic evaluation
trains exactly the weights of a run without it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), NumPy and Python from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture() -> dict[str, Any]:
    """All RNG states as plain values (tensors, ints, lists) that a safetensors checkpoint can hold."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    """Put back what `capture` returned (also accepts a checkpoint's round-tripped copy of it)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), int(n[2]), int(n[3]), float(n[4])))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Run a block with its own randomness; the streams are as they were when the block ends."""
    saved = capture()
    try:
        yield
    finally:
        restore(saved)
