"""`genzoo.data.load`: one entry point for a dataset by name, or a user's folder or array file by path."""

from __future__ import annotations

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
        return load_path(name, split=split, **options)
    return get_loader(name)(split=split, **options)
