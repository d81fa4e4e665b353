"""Names -> model classes, with what each model can do.

Families register themselves with `@register_model(...)` in their own package; the registry discovers every
package under `genzoo.models` on first use, so adding a family never means editing a central list.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from genzoo.errors import GenzooError

CAPABILITIES = ("sample", "log_prob", "encode", "class_condition", "text_condition", "image_condition")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    cls: type
    capabilities: tuple[str, ...]
    description: str


_MODELS: dict[str, ModelEntry] = {}
_DISCOVERED = False


def register_model(
    name: str, family: str, capabilities: tuple[str, ...] = ("sample",), description: str = ""
) -> Callable[[type], type]:
    """Class decorator: make a model reachable by `genzoo.create(name)` and `genzoo list`."""
    bad = [c for c in capabilities if c not in CAPABILITIES]
    if bad:
        raise ValueError(f"unknown capabilities {bad}; known: {CAPABILITIES}")

    def wrap(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        doc = description or next(iter((cls.__doc__ or "").strip().splitlines()), "")
        _MODELS[name] = ModelEntry(name, family, cls, tuple(capabilities), doc)
        cls.model_name = name
        return cls

    return wrap


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import genzoo.models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        importlib.import_module(f"genzoo.models.{info.name}")
    _DISCOVERED = True


def model_entry(name: str) -> ModelEntry:
    _discover()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GenzooError(f"unknown model {name!r}{hint}; known models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def all_models() -> list[ModelEntry]:
    _discover()
    return sorted(_MODELS.values(), key=lambda e: (e.family, e.name))
