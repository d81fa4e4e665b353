"""Dataset names -> loader functions: a pure registry. Each data module registers its own loaders, and the
first lookup imports every module of `genzoo.data` so that none can go missing."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable

from torch.utils.data import Dataset

from genzoo.errors import GenzooError

Loader = Callable[..., Dataset]
_LOADERS: dict[str, tuple[Loader, str]] = {}
_DISCOVERED = False


def register_dataset(name: str, description: str = "") -> Callable[[Loader], Loader]:
    """Decorator: `genzoo.data.load(name, split=..., **options)` calls the decorated loader."""

    def wrap(fn: Loader) -> Loader:
        _LOADERS[name] = (fn, description or next(iter((fn.__doc__ or "").strip().splitlines()), ""))
        return fn

    return wrap


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import genzoo.data as data_pkg

    for info in pkgutil.iter_modules(data_pkg.__path__):
        if info.name not in ("registry", "info", "load"):
            importlib.import_module(f"genzoo.data.{info.name}")
    _DISCOVERED = True


def get_loader(name: str) -> Loader:
    _discover()
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, list(_LOADERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GenzooError(
            f"unknown dataset {name!r}{hint}; known datasets: {', '.join(sorted(_LOADERS))}, "
            "or a path to an image folder / .npy / .npz file / a folder of MIDI or MusicXML files"
        )
    return _LOADERS[name][0]


def list_datasets() -> dict[str, str]:
    _discover()
    return {name: desc for name, (_, desc) in sorted(_LOADERS.items())}
