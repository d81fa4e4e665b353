"""Names -> model classes, with what each model can do.

A model registers itself with `@register_model(name, description)` in `genzoo/models/<family>/<name>.py`:
the family is the folder and the file bears the model's name, so a model is always found in one guess.
Registration refuses a class that lives anywhere else, and one that declares a capability (a protocol of
`genzoo.protocols` among its bases) without implementing it. On first use the registry imports every module
under `genzoo.models`, so a model can never go missing because an `__init__` forgot an import line.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from genzoo import protocols
from genzoo.errors import GenzooError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    module: str
    cls: type
    capabilities: tuple[type[protocols.Capability], ...]
    description: str

    @property
    def capability_names(self) -> list[str]:
        return [protocols.name_of(c) for c in self.capabilities]


_MODELS: dict[str, ModelEntry] = {}
_DISCOVERED = False


def register_model(name: str, description: str = "") -> Callable[[type], type]:
    """Class decorator: make a model reachable by `genzoo.create(name)` and `genzoo list`.

    The family is read from the module path and the capabilities from the class's declared protocols;
    neither is written by hand.
    """

    def wrap(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        family = _family_of(cls, name)
        capabilities = protocols.declared(cls)
        for capability in capabilities:
            gaps = protocols.missing(cls, capability)
            if gaps:
                raise TypeError(f"model {name!r} declares {capability.__name__} but does not implement "
                                f"{', '.join(gaps)}")
        doc = description or next(iter((cls.__doc__ or "").strip().splitlines()), "")
        _MODELS[name] = ModelEntry(name, family, cls.__module__, cls, capabilities, doc)
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
    models_pkg = importlib.import_module("genzoo.models")  # a plugin scan, not a dependency of this layer

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


def models_that(capability: type[protocols.Capability]) -> list[str]:
    """Names of the registered models that declare `capability` (for 'use one of ...' hints)."""
    return [e.name for e in all_models() if capability in e.capabilities]


def require(entry: ModelEntry, capability: type[protocols.Capability], where: str = "") -> None:
    """Refuse, in one line, a model that cannot do what a verb needs, naming the models that can."""
    if capability in entry.capabilities:
        return
    can = models_that(capability)
    place = f"{where} holds " if where else ""
    raise GenzooError(f"{place}model {entry.name!r}, which cannot {protocols.DOING[capability]}; "
                      f"models that can: {', '.join(can) or 'none'}")


def check_model(model: object, capability: type[protocols.Capability]) -> None:
    """`require` for a model already in hand (one built in Python rather than loaded from a run)."""
    if protocols.can(model, capability):
        return
    can = models_that(capability)
    raise GenzooError(f"model {getattr(model, 'model_name', type(model).__name__)!r} cannot "
                      f"{protocols.DOING[capability]}; models that can: {', '.join(can) or 'none'}")
