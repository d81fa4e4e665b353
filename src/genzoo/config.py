"""Config dataclasses: complete defaults, JSON round-trips, unknown keys refused by name."""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from typing import Any, TypeVar

from genzoo.errors import GenzooError

C = TypeVar("C")


def build_config(cls: type[C], overrides: dict[str, Any] | None = None, *, what: str = "model") -> C:
    """Make `cls(**overrides)`, refusing unknown keys with the list of valid ones.

    Values arriving from JSON (lists for tuples) or from the CLI (strings) are coerced to the field's type
    so that a config survives save -> load unchanged.
    """
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        hint = ""
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        raise GenzooError(
            f"unknown {what} option(s) {', '.join(unknown)}{hint}; valid options: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {k: _coerce(v, hints.get(k), k) for k, v in overrides.items()}
    return cls(**values)


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Turn JSON lists back into tuples and CLI strings into numbers/bools where the field asks for them."""
    if annotation is None or value is None:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], name) if len(non_none) == 1 else value
    if origin in (tuple, list) and not isinstance(value, (list, tuple)):
        raise GenzooError(f"option {name} expects a list such as {name}=[64,64], got {value!r}")
    if origin is tuple and isinstance(value, (list, tuple)):
        inner = args[0] if args else None
        return tuple(_coerce(v, inner, name) for v in value)
    if origin is list and isinstance(value, (list, tuple)):
        inner = args[0] if args else None
        return [_coerce(v, inner, name) for v in value]
    if isinstance(value, str) and annotation in (int, float, bool):
        try:
            if annotation is bool:
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return annotation(value)
        except ValueError:
            raise GenzooError(f"option {name} expects {annotation.__name__}, got {value!r}") from None
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    data = dataclasses.asdict(config)
    json.dumps(data)  # fail early, here, if a config holds something JSON cannot carry
    return data
