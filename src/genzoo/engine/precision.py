"""Pick the training precision the hardware actually rewards (see `genzoo.hardware` for why it asks)."""

from __future__ import annotations

import torch

from genzoo.hardware import cpu_has_fast_bf16


def auto_precision(accelerator: str = "auto", preferred: str = "bf16-mixed") -> str:
    """`preferred` where the device runs it fast, else full fp32."""
    if preferred in ("32-true", "32", "64-true"):
        return preferred
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        return preferred if torch.cuda.is_bf16_supported() or preferred.startswith("16") else "32-true"
    return preferred if cpu_has_fast_bf16() else "32-true"
