"""Train the shipped zero-shot forecaster (a build step for package data, not a benchmark: its figures are the
zero-shot rows of benchmarks/forecast.py): src/genzoo/data/pretrained/zero_shot (safetensors + JSON, ~3 MB).

The Chronos recipe at a small scale: a `global_forecaster` trained on Gaussian-process series with random
composed kernels (`kernel_synth`) plus real series. Half of the offline collection (every second series by
name) is held out entirely so the benchmark can score the model on series it never saw; the other half
contributes only its training part (the data before the benchmark's first origin). The held-out names are
recorded in the checkpoint's data_info (`held_out`), which is how benchmarks/forecast.py finds them.

Run: PYTHONPATH=src python scripts/pretrain_zero_shot.py   (~5 min on one shared CPU core)
"""

from __future__ import annotations

import sys
import time
import warnings

import torch

from genzoo import hub
from genzoo.apps import forecast as fc
from genzoo.data.kernel_synth import synth
from genzoo.data.series_collection import all_series, horizon_of

ORIGINS = 2
SYNTHETIC, LENGTH = 1500, 256
REAL_REPEAT = 25  # windows are drawn per series: repeating the real ones makes them ~40% of the windows
CONFIG = dict(context_length=96, prediction_length=18, hidden=256, blocks=3)
STEPS, BATCH = 3000, 128


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else STEPS
    series = all_series()
    held_out = [s.name for s in series[1::2]]
    real = [s.head(len(s) - ORIGINS * horizon_of(s)) for s in series[0::2]]
    t = time.perf_counter()
    corpus = synth(SYNTHETIC, LENGTH, seed=0) + real * REAL_REPEAT
    net = fc.fit(corpus, steps=steps, batch_size=BATCH, model="global_forecaster", progress=True, **CONFIG)
    net.data_info.name = "kernel_synth+series_collection"
    net.data_info.extra = {"held_out": held_out, "synthetic": SYNTHETIC, "real": [s.name for s in real]}
    hub.save(net, fc.ZERO_SHOT, extra={"trained_steps": steps, "seconds": round(time.perf_counter() - t)})
    print(f"saved {fc.ZERO_SHOT} after {steps} steps in {time.perf_counter() - t:.0f}s; held out: {held_out}")


if __name__ == "__main__":
    main()
