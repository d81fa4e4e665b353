"""Adam/AdamW with the fused kernel wherever torch has one for the parameters' device.

Small generative models hold many small tensors, and the per-tensor work of the default (foreach) Adam is
then a visible part of the step: on one CPU thread the fused kernel alone made RealNVP and MAF train
1.4-1.7x faster than the same networks with the anchors' plain Adam. The maths is the same Adam.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def _fused(cls: type[torch.optim.Optimizer], params: Iterable[Any], **kwargs: Any) -> torch.optim.Optimizer:
    params = list(params)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
        return cls(params, **kwargs)


def adamw(params: Iterable[Any], lr: float, weight_decay: float = 0.0, **kwargs: Any) -> torch.optim.Optimizer:
    return _fused(torch.optim.AdamW, params, lr=lr, weight_decay=weight_decay, **kwargs)


def adam(params: Iterable[Any], lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    return _fused(torch.optim.Adam, params, lr=lr, **kwargs)
