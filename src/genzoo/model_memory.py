"""How much memory a model's weights will take, known before a single weight is allocated.

A typo such as `-O latent_dim=1000000000`, or a config.json from a stranger, asks for terabytes; building
such a model gets the host OOM-killed (on a machine without a memory limit, everything on it). So `create`
and `load` first build the model on PyTorch's `meta` device (shapes only, no storage, no initialisation
arithmetic), count its parameters and buffers, and refuse in one line anything beyond what the machine has
free, naming the config fields that set the size. GENZOO_ALLOW_LARGE=1 skips the check.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import torch

from genzoo.errors import GenzooError
from genzoo.hardware import available_memory_bytes, large_allowed


def weight_bytes(cls: type, config: Any, info: Any) -> int | None:
    """Bytes of parameters and buffers of `cls(config, info)`, counted on the meta device; None where the
    model cannot be built there (it then gets no estimate rather than a wrong one)."""
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            model = cls(config, info)
    except GenzooError:
        raise
    except RuntimeError as e:
        if "overflow" in str(e):  # a tensor too large for even its size to be computed
            return 1 << 63
        return None  # a model whose set-up needs real tensors: no estimate
    except Exception:  # noqa: BLE001 - as above
        return None
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def check_fits(cls: type, config: Any, info: Any, what: str) -> None:
    """Refuse, before allocating, a model whose weights alone exceed the machine's free memory."""
    if large_allowed():
        return
    size = weight_bytes(cls, config, info)
    free = available_memory_bytes()
    if size is None or size <= free:
        return
    need = _gib(size) if size < 1 << 63 else "more memory than can be counted"
    raise GenzooError(f"{what} needs {need} for its weights alone but this machine has {_gib(free)} "
                      f"free ({_largest_fields(config)}); use smaller sizes, or set GENZOO_ALLOW_LARGE=1 to try")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def _largest_fields(config: Any) -> str:
    """The config's largest size fields, which are what to shrink."""
    sizes: list[tuple[int, str]] = []
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        values = v if isinstance(v, (tuple, list)) else (v,)
        ints = [x for x in values if isinstance(x, int) and not isinstance(x, bool)]
        if ints:
            sizes.append((max(ints), f"{f.name}={v if isinstance(v, int) else list(v)}"))
    return "largest sizes: " + ", ".join(s for _, s in sorted(sizes, reverse=True)[:3]) if sizes else "its config"
