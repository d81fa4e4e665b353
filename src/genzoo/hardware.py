"""What the hardware runs fast, probed once: the engine's precision choice and the models' autocast agree.

bf16 is the fast path on CPUs with AMX / AVX-512-BF16 and on recent GPUs, but on a CPU without them (e.g.
AVX2-only) PyTorch emulates bf16 and VAE training ran ~10x *slower* than fp32 on this project's AMD EPYC CI
machine (benchmarks/results/vae.json).
"""

from __future__ import annotations

import functools
import os

import torch


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def fast_bf16(device: torch.device | str = "cpu") -> bool:
    """True where bf16 matmuls/convolutions are native on `device` (a CUDA GPU or a CPU)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_fast_bf16()


def available_memory_bytes() -> int:
    """Memory a new allocation can have without swapping: MemAvailable (Linux), else the physical total."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def large_allowed() -> bool:
    """GENZOO_ALLOW_LARGE=1: the user asks for a model or an input beyond the memory check on purpose."""
    return os.environ.get("GENZOO_ALLOW_LARGE") == "1"
