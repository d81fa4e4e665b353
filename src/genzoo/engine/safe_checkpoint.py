"""Training checkpoints as one safetensors file: tensors as tensors, everything else as JSON metadata.

Lightning's and torch's own format is a pickle, and unpickling a stranger's file can run code. This keeps
the full resume state (weights, optimizer moments, EMA, loop counters, sampler position, RNG) but stores it
as raw tensors plus a JSON skeleton, and writes atomically (temp file + rename) so a kill mid-save loses
nothing that was saved before. Checkpoints written by earlier genzoo versions through Lightning's Trainer
have the same layout and still load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genzoo.atomic import atomic_write
from genzoo.errors import GenzooError

_META_KEY = "genzoo_checkpoint"


def flatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON skeleton of `obj`; tensors are moved into `tensors` and referenced by key."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu").clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(tensors)}"
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [flatten(v, tensors) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a safetensors checkpoint")


def _key(k: Any) -> Any:
    if k is None or isinstance(k, (bool, int, float, str)):
        return k
    raise TypeError(f"checkpoint dict key of type {type(k).__name__} is not supported")


def unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(node, list):
        return [unflatten(v, tensors) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            return tensors[node["__tensor__"]]
        if "__ndarray__" in node:
            return tensors[node["__ndarray__"]].numpy()
        if "__tuple__" in node:
            return tuple(unflatten(v, tensors) for v in node["__tuple__"])
        if "__dict__" in node:
            return {k: unflatten(v, tensors) for k, v in node["__dict__"]}
    return node


def save_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, tensors)
    atomic_write(Path(path), lambda p: save_file(tensors, p, metadata={_META_KEY: json.dumps(skeleton)}))


def load_state(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if _META_KEY not in meta:
                raise GenzooError(f"{path} is not a genzoo training checkpoint")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
    except (SafetensorError, OSError) as e:
        raise GenzooError(f"checkpoint {path} is corrupt or unreadable ({str(e).splitlines()[0]})") from None
    if map_location not in (None, "cpu") and not callable(map_location):
        tensors = {k: v.to(map_location) for k, v in tensors.items()}
    try:
        state = unflatten(json.loads(meta[_META_KEY]), tensors)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise GenzooError(f"checkpoint {path} is corrupt: its metadata does not describe its tensors "
                          f"({type(e).__name__}: {e})") from None
    return state


#: what a training checkpoint must hold, and as what (the rest is optional and checked where it is used)
_SCHEMA: dict[str, type | tuple[type, ...]] = {"state_dict": dict, "optimizer_states": list, "global_step": int}


def check_training_state(state: Any, path: Any) -> None:
    """Refuse a checkpoint without what `fit` resumes from (weights as tensors, optimizer states, the step)."""
    if not isinstance(state, dict):
        raise GenzooError(f"checkpoint {path} is corrupt: it holds no training state")
    for key, kind in _SCHEMA.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise GenzooError(f"checkpoint {path} is corrupt: {key!r} is missing or not a {kind.__name__}")
    bad = [k for k, v in state["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise GenzooError(f"checkpoint {path} is corrupt: state_dict entry {bad[0]!r} is not a tensor")


def check_matches(state_dict: dict[str, Any], expected: dict[str, torch.Tensor], path: Any) -> None:
    """The checkpoint's weights are exactly the model's: the same names, shapes and dtypes (a silent cast
    or a broadcast would resume a different model)."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise GenzooError(f"the checkpoint {path} does not match this model ({len(missing)} missing, "
                          f"{len(unexpected)} unexpected tensors, e.g. {(missing + unexpected)[0]}): "
                          "use a new --out")
    for key, want in expected.items():
        got = state_dict[key]
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            raise GenzooError(f"the checkpoint {path} does not match this model: {key} is "
                              f"{str(got.dtype).removeprefix('torch.')} {list(got.shape)}, the model's is "
                              f"{str(want.dtype).removeprefix('torch.')} {list(want.shape)}: use a new --out")
