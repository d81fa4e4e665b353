"""Pick the training precision the hardware actually rewards, by measuring it.

bf16-mixed is the fast path on CPUs with AMX / AVX-512-BF16 and on recent GPUs, but not for every network:
on this project's 2-core AMD EPYC (Zen 5, avx512_bf16) it ran the VAE 1.5-1.8x and GPT 1.76x faster than
fp32 while the small DDPM U-Net ran 0.97x, and on an AVX2-only CPU PyTorch emulates bf16 and training ran
~10x *slower*. A rule per CPU flag cannot know which of these a given network is, so "auto" on a CPU with
bf16 instructions times a few training steps of the actual model in both precisions (on a throwaway copy,
outside the training RNG stream) and keeps bf16 only when it is clearly faster. The decision is cached per
model, configuration, batch shape and machine, so it is measured once, and recorded in the checkpoint so a
resumed run keeps it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genzoo.hardware import cpu_has_fast_bf16

#: bf16 must beat fp32 by this factor to be chosen: near-ties go to fp32, the numerically safer one
MIN_GAIN = 1.1


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def auto_precision(accelerator: str = "auto", preferred: str = "bf16-mixed",
                   probe: Callable[[str], float] | None = None, key: str | None = None) -> str:
    """`preferred` where the device runs it fast, else full fp32.

    On a CPU with bf16 instructions and a `probe` (seconds per training step in a given precision), the
    faster of fp32 and `preferred` by measurement, remembered under `key`.
    """
    if preferred in ("32-true", "32", "64-true"):
        return preferred
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return preferred if torch.cuda.is_bf16_supported() or preferred.startswith("16") else "32-true"
    if not cpu_has_fast_bf16():
        return "32-true"
    if probe is None or key is None:
        return preferred
    return measured_choice(probe, key, preferred)


def measured_choice(probe: Callable[[str], float], key: str, preferred: str) -> str:
    from genzoo.atomic import atomic_write
    from genzoo.data.cache import cache_dir

    path = cache_dir() / "precision.json"
    full_key = f"{key}|{cpu_name()}|torch {torch.__version__}|{torch.get_num_threads()} threads"
    full_key = hashlib.sha256(full_key.encode()).hexdigest()[:24]
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if full_key in known:
        return known[full_key]["precision"]
    times = {p: float("inf") for p in ("32-true", preferred)}
    for _ in range(2):  # interleaved, best of two: the machine is shared
        for p in times:
            times[p] = min(times[p], probe(p))
    choice = preferred if times["32-true"] / times[preferred] >= MIN_GAIN else "32-true"
    known[full_key] = {"precision": choice, "what": key,
                       "seconds_per_step": {p: round(t, 6) for p, t in times.items()}}
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(known, indent=1)))
    return choice


def time_steps(step: Callable[[], None], min_seconds: float = 0.2, max_steps: int = 30) -> float:
    """Seconds per call of `step` after two warm-up calls (at least `min_seconds` or `max_steps` timed)."""
    step()
    step()
    n, start = 0, time.perf_counter()
    while n < max_steps and (n < 3 or time.perf_counter() - start < min_seconds):
        step()
        n += 1
    return (time.perf_counter() - start) / n
