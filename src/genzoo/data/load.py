"""`genzoo.data.load`: one entry point for a dataset by name, or a user's folder or array file by path (a
folder of MIDI / MusicXML files becomes the `music` dataset of `genzoo.data.music_sources`)."""

from __future__ import annotations

import json
import os
from typing import Any

from torch.utils.data import Dataset

from genzoo.data.files import load_path
from genzoo.data.registry import get_loader, list_datasets
from genzoo.errors import GenzooError


def load(name: str, split: str = "train", **options: Any) -> Dataset:
    """Load a dataset by name (or path) and split; every dataset carries `.info` (a DataInfo)."""
    if split not in ("train", "test", "val", "all"):
        raise GenzooError(f"unknown split {split!r}; use train, val, test or all")
    if name not in list_datasets() and (os.sep in name or os.path.exists(name)):
        from genzoo.data.music_sources import holds_music, music

        data = music(split, path=name, **options) if holds_music(name) else load_path(name, split=split, **options)
    else:
        data = get_loader(name)(split=split, **options)
    info = getattr(data, "info", None)
    if info is not None:  # recorded, so a saved run's test split is reloaded exactly as it was trained
        info.extra["load_name"] = name
        info.extra["load_options"] = json.loads(json.dumps(options, default=str))
    return data


def load_like(info: Any, split: str = "test") -> Dataset:
    """Another split of the dataset a model was trained on, with the options it was loaded with."""
    if info is None:
        raise GenzooError("the model does not record its dataset; name one with --data")
    return load(info.extra.get("load_name", info.name), split=split, **info.extra.get("load_options", {}))
