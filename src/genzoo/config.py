"""Config dataclasses: complete defaults, JSON round-trips, unknown keys and bad values refused by name.

Every value that reaches a model, from `genzoo.create(**overrides)`, `-O key=value` or a saved config.json,
passes `build_config`, which checks it once against the field's annotation and range: ints are whole numbers,
floats finite, booleans booleans, fixed-length tuples of the declared length, and sizes positive. The ranges
follow the fields' names, the same for every model (a `dropout`, a `p_*` or a `*_decay` is a probability, a
`*_weight` non-negative, an int field whose default is positive is a size and stays at least 1); a field
declares its own with `field(metadata={"min": ..., "max": ...})`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
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
    for k, v in values.items():
        _check_range(fields[k], v)
    return cls(**values)


#: int fields where 0 means "none of them" even in models whose default is positive
ZERO_MEANS_NONE = {"attention_layers", "heads", "differencing", "pretrain_batches", "top_k", "num_classes",
                   "num_labels", "cond_channels", "context_dim", "res_blocks", "num_res_blocks", "downsamples",
                   "upsamples", "encoder_convs", "decoder_convs"}
NON_NEGATIVE = {"beta", "sigma", "spread", "guidance_scale", "temperature", "lr_d_ratio",
                "logit_alpha", "restart_threshold", "bound", "copy_supervision"}


def _is_probability(name: str) -> bool:
    return (name in ("dropout", "mask_prob", "label_smoothing", "top_p", "eta", "betas")
            or name.startswith("p_") or name.endswith(("_dropout", "_decay")))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _bounds(f: dataclasses.Field[Any], value: Any) -> tuple[float | None, float | None]:
    """(min, max) for a number in field `f`: declared in its metadata, else by the naming conventions."""
    if "min" in f.metadata or "max" in f.metadata:
        return f.metadata.get("min"), f.metadata.get("max")
    name = f.name
    if isinstance(value, float):
        if _is_probability(name):
            return 0.0, 1.0
        return (0.0, None) if name in NON_NEGATIVE or name.endswith("_weight") else (None, None)
    default = _default(f)
    defaults = default if isinstance(default, (tuple, list)) else (default,)
    positive = all(isinstance(d, int) and d >= 1 for d in defaults) and name not in ZERO_MEANS_NONE
    return (1 if positive else 0), None


def _check_range(f: dataclasses.Field[Any], value: Any) -> None:
    """Refuse a number outside its field's range, naming the field and the range."""
    for v in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        lo, hi = _bounds(f, v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            span = f"between {lo} and {hi}" if lo is not None and hi is not None else (
                f"at least {lo}" if lo is not None else f"at most {hi}")
            raise GenzooError(f"option {f.name} must be {span}, got {v!r}")


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Turn JSON lists back into tuples and CLI strings into numbers/bools where the field asks for them, and
    refuse what cannot be the field's type (a float for an int, NaN, a list for a number, a 2-tuple for 3)."""
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
        if args and args[-1] is not Ellipsis and len(value) != len(args):
            raise GenzooError(f"option {name} expects {len(args)} values, got {len(value)}: {list(value)!r}")
        return tuple(_coerce(v, args[min(i, len(args) - 1)] if args and args[-1] is not Ellipsis else
                             (args[0] if args else None), name) for i, v in enumerate(value))
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
            value = annotation(value)
        except ValueError:
            raise GenzooError(f"option {name} expects {annotation.__name__}, got {value!r}") from None
    return _typed(value, annotation, name)


def _typed(value: Any, annotation: Any, name: str) -> Any:
    """`value` as the scalar type `annotation`, or a one-line refusal."""
    if annotation is bool:
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if not isinstance(value, bool):
            raise GenzooError(f"option {name} expects true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise GenzooError(f"option {name} expects a whole number, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GenzooError(f"option {name} expects a number, got {value!r}")
        if not math.isfinite(value):
            raise GenzooError(f"option {name} must be a finite number, got {value!r}")
        return float(value)
    if annotation is str and not isinstance(value, str):
        raise GenzooError(f"option {name} expects text, got {value!r}")
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    data = dataclasses.asdict(config)
    json.dumps(data)  # fail early, here, if a config holds something JSON cannot carry
    return data
