"""The range of every number any verb takes, by the option's name: `--steps` means the same in every verb.

argparse checks only that `--steps` is an int; 0, -5 or 10^9 then reach a model and hang, crash or write an
empty file. `apply(parser)` gives each int and float option of every verb (the apps' included) its range from
`RANGES`, so a bad number is refused at parsing, in one line naming the option and the range. A float must
also be finite (`--lr inf`, `--fpr nan`). A numeric option whose name is not in `RANGES` fails `apply`, and
so the test suite, until its range is written down here.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself not allowed (a rate must be > 0)

    def check(self, v: float) -> str | None:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return f"must be {'greater than' if self.lo_open else 'at least'} {_fmt(self.lo)}, got {_fmt(v)}"
        if self.hi is not None and v > self.hi:
            return f"must be at most {_fmt(self.hi)}, got {_fmt(v)}"
        return None


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(v)


COUNT = Range(1, 10**9)  # a whole number of things, capped where a typo would run for ever
NONNEG = Range(0, 10**9)
POSITIVE = Range(0, None, lo_open=True)
PROBABILITY = Range(0, 1)
WEIGHT = Range(0, None)

RANGES: dict[str, Range] = {
    **dict.fromkeys(("max_steps", "max_epochs", "batch_size", "num_nodes", "sample_every", "checkpoint_every",
                     "eval_every", "eval_samples", "log_every", "steps", "folds", "horizon", "bars",
                     "iterations", "rerank", "max_new_tokens", "num_beams", "max_answer_tokens", "seeds",
                     "per_class", "synthetic_per_class", "labels_per_class", "frames", "predict", "jump",
                     "resample", "max_frames", "k", "season_length", "background_steps", "generator_steps"), COUNT),
    "n": Range(1, 100_000), "samples": Range(1, 100_000),
    "scale": Range(1, 32), "size": Range(1, 4096), "patch": Range(1, 4096),
    "seed": Range(0, 2**32 - 1), "label": Range(0, 10**6), "port": Range(0, 65535),
    **dict.fromkeys(("holdout", "m1_steps", "pan_zoom", "top_k", "prompt_lookup"), NONNEG),
    **dict.fromkeys(("lr", "time_budget", "fps", "tempo", "pace", "style_scale", "temperature",
                     "repetition_penalty"), POSITIVE),
    **dict.fromkeys(("top_p", "min_p", "blend", "perturb", "label_confidence", "sample_confidence"), PROBABILITY),
    "synthetic_fraction": Range(0, 1, lo_open=True),
    "fpr": Range(0, 1, lo_open=True), "ema": Range(0, 0.999999),
    **dict.fromkeys(("guidance", "content_weight", "style_weight", "tv_weight", "style_weights"), WEIGHT),
    **dict.fromkeys(("strength", "length_penalty"), Range()),
}

#: where one verb's option means something else: `stylize --size 0` is documented as "the content's own size"
BY_VERB: dict[tuple[str, str], Range] = {("genzoo stylize", "size"): Range(0, 4096)}


def apply(parser: argparse.ArgumentParser) -> None:
    """Give every int/float option of `parser` and its sub-commands the range `RANGES` names for it."""
    if getattr(parser, "_ranged", False):
        return
    parser._ranged = True  # type: ignore[attr-defined]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                apply(sub)
        elif action.type in (int, float):
            if action.dest not in RANGES and (parser.prog, action.dest) not in BY_VERB:
                raise KeyError(f"{parser.prog} {action.option_strings or action.dest}: a numeric option with "
                               "no range; add its name to genzoo.cli_ranges.RANGES")
            action.type = _checked(action.type, range_of(parser.prog, action.dest))


def range_of(prog: str, dest: str) -> Range:
    """The range of option `dest` of verb `prog` (e.g. "genzoo sample", "n")."""
    return BY_VERB.get((prog, dest), RANGES[dest])


def _checked(kind: type, rule: Range) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expects {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        problem = rule.check(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = kind.__name__
    parse.kind = kind  # type: ignore[attr-defined]
    return parse
