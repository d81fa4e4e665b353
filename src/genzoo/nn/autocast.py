"""Autocast for inference and custom loops, on only where the hardware runs bf16 fast (`genzoo.hardware`)."""

from __future__ import annotations

import torch

from genzoo.hardware import fast_bf16


def autocast_context(device: torch.device | str = "cpu") -> torch.autocast:
    """A bf16 autocast context on `device`, disabled where bf16 would be emulated (slow)."""
    dev = torch.device(device).type
    return torch.autocast(dev, dtype=torch.bfloat16, enabled=fast_bf16(dev))
