"""The progress line: one line rewritten in place on a terminal, one plain line every N steps elsewhere.

A carriage-return stream is unreadable in a log file or a CI page, so outside a terminal each report is a
line of its own (`step 400/2000  loss 0.0412  fid 31.2  83 steps/s  eta 0:19`), written every `every`
steps and whenever an evaluation brings a new quality figure.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int | None, every: int, stream: TextIO | None = None,
                 time_budget: float | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.every, self.time_budget = total, max(1, every), time_budget
        self.start = time.perf_counter()
        self.start_step: int | None = None
        self.figures: dict[str, float] = {}  # latest evaluation results, shown on every line
        self.metrics: dict[str, float] = {}  # latest training figures (the loss)
        self._open = False
        self._last_key: tuple | None = None

    def line(self, step: int, metrics: dict[str, float]) -> str:
        if self.start_step is None:
            self.start_step = step
        elapsed = time.perf_counter() - self.start
        rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total}" if self.total else ""
        parts = [f"step {step}{total}"]
        parts += [f"{k} {v:.4g}" for k, v in {**metrics, **self.figures}.items()]
        if rate > 0:
            parts.append(f"{rate:.3g} steps/s")
            left = []
            if self.total:
                left.append((self.total - step) / rate)
            if self.time_budget:
                left.append(self.time_budget - elapsed)
            if left:
                parts.append(f"eta {_clock(min(left))}")
        return "  ".join(parts)

    def update(self, step: int, metrics: dict[str, float] | None = None, force: bool = False) -> None:
        """Report at `step`; outside a terminal only every `every` steps unless `force`."""
        if self.start_step is None:
            self.start_step = step
        if metrics:
            self.metrics = metrics
        metrics = self.metrics
        if not (force or self.tty or step % self.every == 0):
            return
        key = (step, tuple(self.figures.items()))
        if force and key == self._last_key:
            return  # the closing report of a step already shown with these figures
        self._last_key = key
        text = self.line(step, metrics)
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
