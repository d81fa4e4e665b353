"""Save and load any model as `config.json` + `model.safetensors` — never a pickle.

A checkpoint from a stranger must not be able to run code, so loading reads JSON and raw tensors only and
rebuilds the model from its registered class. Writes go to a temporary file first and are renamed into
place, so a crash mid-write never destroys the previous save.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model as _st_load_model
from safetensors.torch import save_model as _st_save_model

from genzoo.atomic import atomic_write, remove_stale_temps
from genzoo.config import build_config, config_to_dict
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.model_memory import check_fits
from genzoo.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "genzoo-model"


def save(model: torch.nn.Module, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write `config.json` and `model.safetensors` for `model` into `directory`; returns the directory."""
    directory = Path(directory)
    meta = {
        "format": FORMAT,
        "genzoo_version": __version__,
        "model": model.model_name,
        "config": config_to_dict(model.config),
        "data_info": model.data_info.to_dict() if model.data_info is not None else None,
        **(extra or {}),
    }
    if directory.is_dir():  # temps of a save that was killed: the files they were for are intact
        remove_stale_temps(directory, (WEIGHTS_FILE, CONFIG_FILE))
    atomic_write(directory / WEIGHTS_FILE, lambda p: _st_save_model(model, p, metadata={"format": FORMAT}))
    atomic_write(directory / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(meta, indent=2)))
    return directory


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed `config.json` of a saved model, with a clear error for anything that is not one."""
    directory = Path(directory)
    if not directory.exists():
        raise GenzooError(f"no saved model at {directory} (the directory does not exist)")
    cfg = directory / CONFIG_FILE if directory.is_dir() else directory
    if not cfg.is_file():
        raise GenzooError(f"{directory} is not a genzoo run: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GenzooError(f"{cfg} is corrupt: not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    except RecursionError:
        raise GenzooError(f"{cfg} is corrupt: its JSON is nested too deeply to read") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), str):
        raise GenzooError(f"{cfg} is not a genzoo model config (foreign or corrupt checkpoint)")
    return meta


def load(directory: str | os.PathLike[str], map_location: str | torch.device = "cpu", needs: Any = None) -> Any:
    """Rebuild a saved model from `config.json` and fill it from `model.safetensors`.

    `needs`: capabilities (`genzoo.protocols`) the caller will use; checked from the config, before the weights.
    """
    from genzoo.registry import model_entry, require

    directory = Path(directory)
    meta = read_meta(directory)
    entry = model_entry(meta["model"])
    for capability in (needs if isinstance(needs, (tuple, list)) else (needs,) if needs is not None else ()):
        require(entry, capability, where=str(directory))
    cfg = directory / CONFIG_FILE if directory.is_dir() else directory
    try:
        if not isinstance(meta.get("config") or {}, dict):
            raise GenzooError("its config is not a JSON object")
        saved = meta.get("config") or {}
        # options added after a run was saved take the value that reproduces that run, not today's default
        older = getattr(entry.cls.Config, "BEFORE_OPTION", {})
        config = build_config(entry.cls.Config, {**{k: v for k, v in older.items() if k not in saved}, **saved})
        info = DataInfo.from_dict(meta.get("data_info"))
    except GenzooError as e:
        raise GenzooError(f"{cfg} is not a usable config: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise GenzooError(f"{cfg} is not a usable config: bad data_info ({e})") from None
    check_fits(entry.cls, config, info, what=f"{cfg} (model {meta['model']!r})")
    model = entry.cls(config, info)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise GenzooError(f"{directory} has no {WEIGHTS_FILE}; the run may not have finished saving")
    _check_weights(model, weights, meta["model"])
    try:
        missing, unexpected = _st_load_model(model, str(weights), strict=False, device=str(map_location))
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise GenzooError(f"{weights} is corrupt or does not match its config ({str(e).splitlines()[0]})") from None
    if missing or unexpected:
        raise GenzooError(
            f"{weights} does not match model {meta['model']!r}: {len(missing)} missing and "
            f"{len(unexpected)} unexpected tensors (e.g. {sorted([*missing, *unexpected])[0]})"
        )
    model.eval()
    return model


def _check_weights(model: torch.nn.Module, weights: Path, name: str) -> None:
    """Every tensor in the file must be one of the model's, with its shape and its dtype exactly: a float
    weight replaced by an int64 tensor would otherwise be cast and load silently. Reads the header only."""
    expected = model.state_dict()
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open has no iterator
                if key not in expected:
                    continue  # reported with the missing ones, after the load
                meta = f.get_slice(key)
                shape, dtype = tuple(meta.get_shape()), _DTYPES.get(meta.get_dtype())
                want = expected[key]
                if shape != tuple(want.shape) or dtype != want.dtype:
                    raise GenzooError(
                        f"{weights} does not match model {name!r}: tensor {key} is {meta.get_dtype()} "
                        f"{list(shape)}, the model's is {str(want.dtype).removeprefix('torch.')} {list(want.shape)}")
    except (SafetensorError, OSError) as e:
        raise GenzooError(f"{weights} is corrupt or does not match its config ({str(e).splitlines()[0]})") from None


_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}
