"""Names -> model classes, with what each model can do.

A model registers itself with `@register_model(name, ...)` in `genzoo/models/<family>/<name>.py`: the family
is the folder and the file bears the model's name, so a model is always found in one guess. Registration
refuses a class that lives anywhere else. On first use the registry imports every module under
`genzoo.models`, so a model can never go missing because an `__init__` forgot an import line.
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
    module: str
    cls: type
    capabilities: tuple[str, ...]
    description: str


_MODELS: dict[str, ModelEntry] = {}
_DISCOVERED = False


def register_model(
    name: str, capabilities: tuple[str, ...] = ("sample",), description: str = ""
) -> Callable[[type], type]:
    """Class decorator: make a model reachable by `genzoo.create(name)` and `genzoo list`.

    The family is read from the module path (`genzoo.models.<family>.<name>`), never written by hand.
    """
    bad = [c for c in capabilities if c not in CAPABILITIES]
    if bad:
        raise ValueError(f"unknown capabilities {bad}; known: {CAPABILITIES}")

    def wrap(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        family = _family_of(cls, name)
        doc = description or next(iter((cls.__doc__ or "").strip().splitlines()), "")
        _MODELS[name] = ModelEntry(name, family, cls.__module__, cls, tuple(capabilities), doc)
        cls.model_name = name
        return cls

    return wrap


def _family_of(cls: type, name: str) -> str:
    """The family folder of `cls`, refusing a model that is not in `genzoo/models/<family>/<name>.py`."""
    parts = cls.__module__.split(".")
    if len(parts) != 4 or parts[:2] != ["genzoo", "models"] or parts[3] != name:
        raise ValueError(f"model {name!r} must live in genzoo/models/<family>/{name}.py, not in {cls.__module__}")
    return parts[2]


def _discover() -> None:
    """Import every module under `genzoo.models` (their decorators fill the registry)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import genzoo.models as models_pkg

    for info in pkgutil.walk_packages(models_pkg.__path__, prefix="genzoo.models."):
        importlib.import_module(info.name)
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
