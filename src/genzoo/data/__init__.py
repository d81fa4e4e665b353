"""Datasets that work offline, download loaders with checksums, and user files.

`genzoo.data.load(name, split)` returns a torch Dataset with `.info`; see `list_datasets()` for names.
"""

from genzoo.data.info import DataInfo
from genzoo.data.load import load, load_like
from genzoo.data.registry import list_datasets, register_dataset

__all__ = ["DataInfo", "list_datasets", "load", "load_like", "register_dataset"]
