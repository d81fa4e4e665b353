"""Metrics by name: what each needs (a capability and a kind of data) and which ones `eval` runs by default.

A metric is a function `(model, data, ctx) -> {name: value}` registered with `@register_metric`. The
registry answers `evaluate(model, data, metrics)` for any named subset, picks a family's defaults when none
is named (image samplers get FID, language models perplexity, forecasters MASE/CRPS, ...), and refuses in
one line a metric that does not fit the model or the data. The metrics themselves live in `catalog.py`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from genzoo.errors import GenzooError
from genzoo.protocols import DOING, Capability, can

Compute = Callable[[Any, Any, "Context"], dict[str, float]]


@dataclass
class Context:
    """What a metric may use beside the model and the test data: sample counts, the train split, a seed."""

    n_samples: int = 1000
    train_data: Any = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Compute
    needs: type[Capability]
    kinds: tuple[str, ...]
    default: bool
    description: str
    unless: type[Capability] | None = None

    def fits(self, model: Any, data: Any) -> str | None:
        """None if the metric applies to `model` on `data`, else why not (one phrase)."""
        if not can(model, self.needs):
            return f"it needs a model that can {DOING[self.needs]}"
        if self.unless is not None and can(model, self.unless):
            return f"a model that can {DOING[self.unless]} is measured otherwise"
        kind = getattr(getattr(data, "info", None), "kind", None)
        if self.kinds and kind not in self.kinds:
            return f"it needs {' or '.join(self.kinds)} data, not {kind or 'unknown'} data"
        return None


_METRICS: dict[str, Metric] = {}


def register_metric(name: str, needs: type[Capability], kinds: tuple[str, ...] = (), default: bool = False,
                    description: str = "", unless: type[Capability] | None = None) -> Callable[[Compute], Compute]:
    """Decorator: `evaluate(..., metrics=[name])` calls the function; `default` adds it to `eval`'s choice."""

    def wrap(fn: Compute) -> Compute:
        if name in _METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        doc = description or next(iter((fn.__doc__ or "").strip().splitlines()), "")
        _METRICS[name] = Metric(name, fn, needs, kinds, default, doc, unless)
        return fn

    return wrap


def all_metrics() -> list[Metric]:
    return sorted(_METRICS.values(), key=lambda m: m.name)


def get_metric(name: str) -> Metric:
    if name not in _METRICS:
        close = difflib.get_close_matches(name, list(_METRICS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GenzooError(f"unknown metric {name!r}{hint}; known: {', '.join(sorted(_METRICS))}")
    return _METRICS[name]


def default_metrics(model: Any, data: Any) -> list[str]:
    """The metrics `eval` runs when none is named: every default metric that fits the model and the data."""
    names = [m.name for m in all_metrics() if m.default and m.fits(model, data) is None]
    if not names:
        kind = getattr(getattr(data, "info", None), "kind", "unknown")
        raise GenzooError(f"no default metric fits model {getattr(model, 'model_name', '?')!r} on {kind} data; "
                          f"name one of: {', '.join(m.name for m in all_metrics() if m.fits(model, data) is None)}")
    return names


def evaluate(model: Any, data: Any, metrics: list[str] | None = None, n_samples: int = 1000,
             train_data: Any = None, seed: int = 0, **options: Any) -> dict[str, float]:
    """Named metrics (or the defaults) of `model` against `data`, normally the test split.

    Every metric is checked before any is computed, so a bad name or a metric that does not fit costs nothing.
    """
    if n_samples < 1:
        raise GenzooError(f"the number of samples must be at least 1, got {n_samples}")
    names = list(metrics) if metrics else default_metrics(model, data)
    chosen = [get_metric(n) for n in names]
    for m in chosen:
        why = m.fits(model, data)
        if why:
            raise GenzooError(f"metric {m.name!r} does not fit model {getattr(model, 'model_name', '?')!r}: {why}")
    ctx = Context(n_samples=n_samples, train_data=train_data, seed=seed, options=options)
    out: dict[str, float] = {}
    model.eval()
    for m in chosen:
        torch.manual_seed(seed)
        out.update(m.compute(model, data, ctx))
    return out
