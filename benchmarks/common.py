"""Shared benchmark plumbing: the results-JSON format of DESIGN.md and honest timing on a noisy machine."""

from __future__ import annotations

import datetime
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """The hardware, not the run's thread count (budgets say how many threads a row used)."""
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} + {os.cpu_count()} CPU threads ({name})"
    return f"{os.cpu_count()} CPU cores ({name})"


class Results:
    """Collects rows and writes benchmarks/results/NAME.json (rewritten after every row, so partial runs count).

    smoke: a `--smoke` run writes NAME_smoke.json, and the samples it makes (`file`) go to a temporary
    directory, so a check that the script still runs never replaces a real result.
    """

    def __init__(self, name: str, smoke: bool = False) -> None:
        self.name = f"{name}_smoke" if smoke else name
        self.rows: list[dict[str, Any]] = []
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.files = Path(tempfile.mkdtemp(prefix=f"genzoo-{name}-smoke-")) if smoke else RESULTS

    def file(self, name: str) -> Path:
        """Where a sample file (PNG, MIDI, text, ...) of this run goes."""
        return self.files / name

    def add(self, task: str, system: str, metric: str, value: float, higher_is_better: bool, budget: str,
            **extra: Any) -> None:
        row = {"task": task, "system": system, "metric": metric, "value": float(value),
               "higher_is_better": higher_is_better, "budget": budget, **extra}
        self.rows.append(row)
        print(f"[{self.name}] {task:<28} {system:<16} {metric:<20} {value:.4g}  ({budget})", flush=True)
        self.write()

    def write(self) -> Path:
        path = RESULTS / f"{self.name}.json"
        doc = {"benchmark": self.name, "date": datetime.date.today().isoformat(), "machine": machine(),
               "torch": torch.__version__.split("+")[0], "rows": self.rows}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(path)
        return path


def interleaved_medians(fns: dict[str, Callable[[], float]], repeats: int = 3) -> dict[str, float]:
    """Run each measurement A, B, A, B, ... and return the median of each (robust to a shared machine)."""
    values: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            values[k].append(fn())
    return {k: statistics.median(v) for k, v in values.items()}


def throughput(step: Callable[[], None], items_per_step: int, steps: int = 20, warmup: int = 3) -> float:
    """Items per second of `step` after warm-up."""
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return items_per_step * steps / (time.perf_counter() - t)
