"""Pick the training precision the hardware actually rewards.

bf16-mixed is the fast path on CPUs with AMX / AVX-512-BF16 and on recent GPUs, but on a CPU without them
(e.g. AVX2-only) PyTorch emulates bf16 and VAE training ran ~10x *slower* than fp32 on this project's
AMD EPYC CI machine (benchmarks/results/vae.json). So "auto" checks before choosing.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def auto_precision(accelerator: str = "auto", preferred: str = "bf16-mixed") -> str:
    """`preferred` where the device runs it fast, else full fp32."""
    if preferred in ("32-true", "32", "64-true"):
        return preferred
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return preferred if torch.cuda.is_bf16_supported() or preferred.startswith("16") else "32-true"
    return preferred if cpu_has_fast_bf16() else "32-true"


def autocast_context(device: torch.device | str = "cpu") -> torch.autocast:
    """An autocast context for inference/custom loops with the same rule (disabled where bf16 is slow)."""
    dev = torch.device(device).type
    enabled = torch.cuda.is_bf16_supported() if dev == "cuda" else cpu_has_fast_bf16()
    return torch.autocast(dev, dtype=torch.bfloat16, enabled=enabled)
