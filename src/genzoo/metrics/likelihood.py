"""Likelihood arithmetic: nats per example, bits per dimension, dataset averages."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


def bits_per_dim(nll_nats: float | Tensor, num_dims: int, scale_bits: float = 0.0) -> float:
    """Convert NLL in nats per example to bits per dimension.

    `scale_bits` adds the change of variables when a dequantised density was fitted on data divided by
    256: p_x(x) = p_y(x / 256) / 256**D, so each dimension costs log2(256) = 8 more bits; pass 8 there.
    """
    nll = float(nll_nats)
    return nll / (num_dims * math.log(2)) + scale_bits


@torch.no_grad()
def dataset_nll(model: torch.nn.Module, data: Dataset, batch_size: int = 256, **kwargs: object) -> float:
    """Mean negative log-likelihood (nats per example) of `model.log_prob` over a dataset."""
    total, count = 0.0, 0
    model.eval()
    for batch in DataLoader(data, batch_size=batch_size, collate_fn=getattr(data, "collate", None)):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        labels = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else None
        cond = {"labels": labels} if labels is not None and model.num_classes else {}
        lp = model.log_prob(x, **cond, **kwargs)
        total += float(-lp.double().sum())
        count += len(lp)
    return total / max(count, 1)
