"""Model FLOPs utilisation (MFU): achieved FLOP/s over the device's *measured* dense-matmul peak.

Vendor peaks mean little on a shared CPU, so the peak is measured here: the best of a few large fp32
(or bf16) matmuls. The MFU of a training run is then (6 N + attention) FLOPs per token x tokens/s / peak,
the PaLM / nanoGPT estimate.
"""

from __future__ import annotations

import functools
import time

import torch


@functools.lru_cache(maxsize=4)
def matmul_peak_flops(dtype: str = "float32", device: str = "cpu", n: int = 1024, repeats: int = 5) -> float:
    """Best observed FLOP/s of an n x n x n matmul in `dtype` on `device` (measured once per process)."""
    dt = getattr(torch, dtype)
    a = torch.randn(n, n, device=device).to(dt)
    b = torch.randn(n, n, device=device).to(dt)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def transformer_flops_per_token(n_params: int, n_layer: int, d_model: int, context: int) -> float:
    """Training FLOPs per token: 6 per parameter plus attention's 12 L d T (Kaplan et al.; PaLM app. B)."""
    return 6 * n_params + 12 * n_layer * d_model * context
