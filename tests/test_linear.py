"""genzoo.nn.Linear: the (in, out) inference path gives nn.Linear's output and follows weight changes."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from genzoo.nn.linear import FEW_ROWS, Linear


def test_inference_path_matches_nn_linear_and_follows_weight_updates() -> None:
    layer = Linear(16, 24)
    x = torch.randn(1, 3, 16)
    with torch.no_grad():
        assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-6)
        assert "_in_out" in layer.__dict__  # the fast path ran
        layer.weight.mul_(2)  # an in-place update, as an optimizer step or a load makes
        assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-6)
        layer.to(torch.float64)
        assert layer(x.double()).dtype == torch.float64


def test_training_and_many_rows_take_nn_linears_own_path() -> None:
    layer = Linear(8, 4, bias=False)
    out = layer(torch.randn(2, 8))
    out.sum().backward()
    assert layer.weight.grad is not None and "_in_out" not in layer.__dict__
    with torch.no_grad():
        layer(torch.randn(FEW_ROWS + 1, 8))
    assert "_in_out" not in layer.__dict__
