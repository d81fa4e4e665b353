"""Interop with the Hugging Face hub and `transformers`' file formats.

A `transformers` folder (config.json with a `model_type` + model.safetensors) is converted into the genzoo model
that computes the same function, and a genzoo model is written back as a folder `transformers` loads. One
module per architecture (`hf_gpt2`, `hf_bert`) says what differs, `hf_folder` holds what they share (reading,
writing, moving tensors by a key map); `hf_hub` fetches `hf:owner/name` through `huggingface_hub`'s cache.
Only safetensors are read: a `pytorch_model.bin` is a pickle, and a checkpoint must not be able to run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

#: model_type (transformers' config.json) -> the module converting it
CONVERTERS = {"gpt2": "genzoo.interop.hf_gpt2", "bert": "genzoo.interop.hf_bert"}


def hf_model_type(directory: str | os.PathLike[str]) -> str | None:
    """The `model_type` of a transformers folder; None for a genzoo run (or anything else)."""
    cfg = Path(directory) / "config.json"
    if not cfg.is_file():
        return None
    try:
        meta = json.loads(cfg.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError, OSError):
        return None  # not ours to judge: the genzoo reader names what is wrong with it
    if not isinstance(meta, dict) or meta.get("format") == "genzoo-model":
        return None
    model_type = meta.get("model_type")
    return model_type if isinstance(model_type, str) else None


def _converter(model_type: str) -> Any:
    import importlib

    if model_type not in CONVERTERS:
        raise GenzooError(f"transformers model_type {model_type!r} has no genzoo conversion; "
                          f"genzoo converts: {', '.join(CONVERTERS)}")
    return importlib.import_module(CONVERTERS[model_type])


def load_hf(directory: str | os.PathLike[str], map_location: str = "cpu", needs: Any = None) -> Any:
    """The genzoo model equal to the transformers checkpoint in `directory` (in eval mode)."""
    model_type = hf_model_type(directory)
    if model_type is None:
        raise GenzooError(f"{directory} is not a transformers folder (no config.json with a model_type)")
    return _converter(model_type).load(Path(directory), map_location=map_location, needs=needs)


def save_hf(model: Any, directory: str | os.PathLike[str]) -> Path:
    """Write `model` as a transformers folder (config.json, model.safetensors, tokenizer files), through the
    converter whose genzoo model (its `MODEL`) this is."""
    converters = [_converter(model_type) for model_type in CONVERTERS]
    for converter in converters:
        if type(model) is converter.MODEL:
            return converter.save(model, Path(directory))
    forms = ", ".join(f"{c.MODEL.model_name} (as {c.MODEL_TYPE})" for c in converters)
    raise GenzooError(f"model {getattr(model, 'model_name', type(model).__name__)!r} has no transformers "
                      f"form; format='hf' writes: {forms}")
