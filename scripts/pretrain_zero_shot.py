"""Train the shipped zero-shot forecaster (a build step for package data; its figures are
benchmarks/results/zero_shot.json and the zero-shot rows of forecast.json): src/genzoo/data/pretrained/zero_shot
(safetensors + JSON, ~3 MB).

The Chronos recipe at a small scale: a `global_forecaster` trained on synthetic series (`kernel_synth`: GP
draws with random composed kernels, plus integrated walks and S-curves in `synth_mix`) and real series.
Half of the offline collection (every second series by name) is held out entirely so the benchmark can
score the model on series it never saw; the other half contributes only its training part (the data before
the benchmark's first origin). The held-out names are recorded in the checkpoint's data_info (`held_out`),
which is how benchmarks/forecast.py finds them.

While it trains, the validation MASE (never the held-out series: the benchmark windows of the series it
trains on, which it never sees, and held-out synthetic draws) is logged against wall-clock; that learning
curve is stored in the checkpoint's config.json and copied into zero_shot.json by benchmarks/zero_shot.py.
The recipe (CHOSEN of RECIPES) was chosen there, on a validation split of the training half (see that script).

Run: PYTHONPATH=src python scripts/pretrain_zero_shot.py [--recipe NAME]   (~6 min: 16000 steps on one CPU thread)
"""

from __future__ import annotations

import argparse
import time
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from genzoo import hub
from genzoo.apps import forecast as fc
from genzoo.data.kernel_synth import synth, synth_mix
from genzoo.data.series import Series
from genzoo.data.series_collection import all_series, horizon_of
from genzoo.metrics.forecast import mase
from genzoo.models.forecasting.global_forecaster import seasonal_naive

ORIGINS = 2  # the benchmark's rolling origins: each series' last ORIGINS horizons are never trained on
CONFIG = dict(context_length=96, prediction_length=18, hidden=256, blocks=3)
# The candidate recipes benchmarks/zero_shot.py compares on validation; "baseline" is the first one shipped.
# mix: GP draws plus synth_mix's walks and S-curves; ema: the decay of the averaged weights that are kept.
BASELINE: dict[str, Any] = dict(steps=3000, batch=128, lr=1e-3, synthetic=1500, mix="gp", real_repeat=25)
MIX: dict[str, Any] = {**BASELINE, "mix": "mix", "weights": (0.6, 0.3, 0.1)}
RECIPES: dict[str, dict[str, Any]] = {
    "baseline": BASELINE,
    "baseline_ema": {**BASELINE, "ema": 0.999},
    "baseline_12k_ema": {**BASELINE, "steps": 12000, "ema": 0.999},
    "mix": MIX,
    "mix_ema": {**MIX, "ema": 0.999},
    "mix_12k_ema": {**MIX, "steps": 12000, "ema": 0.999},
    # the real series' training windows repeat ~165 times in 12k steps at real_repeat=25: fewer repeats,
    # and more synthetic series to learn from instead
    "mix_6k_ema_rr10": {**MIX, "steps": 6000, "ema": 0.999, "real_repeat": 10},
    "mix_12k_ema_rr5_syn5k": {**MIX, "steps": 12000, "ema": 0.999, "real_repeat": 5, "synthetic": 5000},
    # further along the direction that helped (more synthetic series, fewer real repeats, more steps)
    "mix_16k_ema_rr5_syn10k": {**MIX, "steps": 16000, "ema": 0.999, "real_repeat": 5, "synthetic": 10000},
    # the validation MASE swings from one evaluation to the next: three averaged networks (~6 MB together)
    "baseline_ema_x3": {**BASELINE, "ema": 0.999, "config": {"networks": 3, "hidden": 192}},
}
CHOSEN = "mix_16k_ema_rr5_syn10k"  # the recipe shipped: the best on validation (zero_shot.json, rows "select:unseen")
SHRINK = 0.0  # the shipped model's shrink to seasonal naive, chosen on validation too (rows "select:shrink")
# Series of the seen half that are another sampling of a held-out one: the yearly sunspot means are the
# averages of the monthly counts, whose test windows (1981-1983) the yearly training part would cover.
SAME_QUANTITY = {"sunspots": "sunspots-monthly"}
VALID_SYNTHETIC, VALID_SEED = 200, 10_000  # held-out synthetic draws (seeds far from the training ones)

Window = tuple[str, np.ndarray, np.ndarray, int]  # (series name, history, truth, season length)


def halves(series: list[Series]) -> tuple[list[Series], list[Series]]:
    """(seen, held_out): every second series by name is held out of pretraining entirely."""
    return series[0::2], series[1::2]


def training_part(s: Series, held_out: list[Series] = ()) -> Series:
    """The data before the benchmark's first origin; for a series that measures the same thing as a held-out
    one (SAME_QUANTITY), also only the data before that one's first origin, so no test period is seen."""
    part = s.head(len(s) - ORIGINS * horizon_of(s))
    for other in held_out:
        if SAME_QUANTITY.get(s.name) == other.name:
            first = len(other) - ORIGINS * horizon_of(other)
            first_test = pd.date_range(other.start, periods=first + 1, freq=other.freq)[-1]
            dates = pd.date_range(s.start, periods=len(part), freq=s.freq)
            part = part.head(int(np.sum(dates < first_test.replace(month=1, day=1))))
    return part


def benchmark_windows(series: list[Series], origins: int = ORIGINS) -> list[Window]:
    """The last `origins` horizons of each series as (name, history, truth, m) windows."""
    out = []
    for s in series:
        h = horizon_of(s)
        for k in range(origins, 0, -1):
            o = len(s) - k * h
            out.append((s.name, s.values[:o], s.values[o : o + h], s.season_length))
    return out


def synthetic_windows(n: int = VALID_SYNTHETIC, seed: int = VALID_SEED) -> list[Window]:
    """The last points (up to 18) of `n` fresh synthetic draws, half fixed-length GP draws and half `synth_mix`
    (never trained on: other seeds); the same set for every recipe, so their figures compare."""
    draws = synth(n // 2, 256, seed=seed) + synth_mix(n - n // 2, seed=seed + 1)
    out = []
    for s in draws:
        h = min(CONFIG["prediction_length"], len(s) // 4)
        out.append((s.name, s.values[:-h], s.values[-h:], s.season_length))
    return out


def synthetic(recipe: dict[str, Any], n: int, seed: int) -> list[Series]:
    """The recipe's synthetic series: the original fixed-length GP draws ("gp") or `synth_mix` ("mix")."""
    if recipe["mix"] == "gp":
        return synth(n, 256, seed=seed)
    return synth_mix(n, lengths=tuple(recipe.get("lengths", (48, 512))), weights=tuple(recipe["weights"]),
                     noise=float(recipe.get("noise", 0.2)), seed=seed)


def validation_mase(net: Any, windows: list[Window]) -> dict[str, float]:
    """Per-series mean MASE of the network's median over `windows` (deterministic: the 0.5 quantile)."""
    per: dict[str, list[float]] = {}
    for name, hist, truth, m in windows:
        q = net.quantiles(hist, len(truth), m)
        per.setdefault(name, []).append(mase(truth, q[6], hist, m))
    return {name: float(np.mean(v)) for name, v in per.items()}


def relative_score(net: Any, windows: list[Window]) -> dict[str, float]:
    """Summary of `windows`: mean MASE, win rate and geometric mean MASE ratio against seasonal naive."""
    zs = validation_mase(net, windows)
    naive: dict[str, list[float]] = {}
    for name, hist, truth, m in windows:
        naive.setdefault(name, []).append(mase(truth, seasonal_naive(hist, m, len(truth)), hist, m))
    ref = {n: float(np.mean(v)) for n, v in naive.items()}
    ratio = [np.log(max(zs[n], 1e-9) / max(ref[n], 1e-9)) for n in zs]
    return {"mean_mase": float(np.mean(list(zs.values()))), "naive_mean_mase": float(np.mean(list(ref.values()))),
            "win_rate": float(np.mean([zs[n] < ref[n] for n in zs])), "geo_ratio": float(np.exp(np.mean(ratio)))}


def pretrain(
    recipe: dict[str, Any], real: list[Series], valid: dict[str, list[Window]], curve_every: int = 1000,
    seed: int = 0,
) -> tuple[Any, list[dict[str, float]]]:
    """Train a global_forecaster on the recipe's synthetic series plus `real` (each repeated `real_repeat`
    times so real windows are a fair share); every `curve_every` steps score each set of `valid`.
    Returns the trained network and the learning curve (step, seconds, each set's summary)."""
    t = time.perf_counter()
    corpus = synthetic(recipe, recipe["synthetic"], seed) + real * recipe["real_repeat"]
    steps, decay = recipe["steps"], float(recipe.get("ema", 0.0))
    curve: list[dict[str, float]] = []
    average: dict[str, torch.Tensor] = {}

    def log(step: int, net: Any) -> None:
        if decay:
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    average[k] = v.clone() if k not in average else average[k].lerp_(v, 1.0 - decay)
        if (step + 1) % curve_every and step + 1 != steps:
            return
        point: dict[str, float] = {"step": step + 1, "seconds": round(time.perf_counter() - t, 1)}
        scored = averaged(net) if decay else net
        for key, windows in valid.items():
            point.update({f"{key}_{k}": v for k, v in relative_score(scored, windows).items()})
        curve.append(point)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items()), flush=True)

    def averaged(net: Any) -> Any:
        """A copy of `net` with the running average of its weights (Polyak averaging: the weights of the last
        ~1/(1-ema) steps averaged, which smooths the step-to-step swings of the validation MASE)."""
        copy = deepcopy(net)
        copy.load_state_dict(average)
        return copy.eval()

    net = fc.fit(corpus, steps=steps, batch_size=recipe["batch"], lr=recipe["lr"], seed=seed,
                 model="global_forecaster", on_step=log, progress=False, **{**CONFIG, **recipe.get("config", {})})
    return (averaged(net) if decay else net), curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=CHOSEN)
    parser.add_argument("--steps", type=int, help="override the recipe's steps")
    parser.add_argument("--shrink", type=float, default=SHRINK, help="the saved model's shrink to seasonal naive")
    parser.add_argument("--out", type=Path, default=fc.ZERO_SHOT, help="where to save (default: the package data)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    recipe = {**RECIPES[args.recipe], **({"steps": args.steps} if args.steps else {})}
    seen, held_out = halves(all_series())
    valid = {"seen_holdout": benchmark_windows(seen), "synthetic": synthetic_windows()}
    t = time.perf_counter()
    net, curve = pretrain(recipe, [training_part(s, held_out) for s in seen], valid)
    seconds = round(time.perf_counter() - t)
    net.config.shrink = args.shrink
    net.config.season_length = 1  # the fallback when a caller gives no season (it took the first series' one)
    net.data_info.name = "kernel_synth+series_collection"
    net.data_info.extra = {"held_out": [s.name for s in held_out], "synthetic": recipe["synthetic"],
                           "real": [s.name for s in seen]}
    hub.save(net, args.out, extra={"trained_steps": recipe["steps"], "recipe_name": args.recipe, "seconds": seconds,
                                   "threads": 1, "recipe": recipe, "learning_curve": curve})
    print(f"saved {args.out} after {recipe['steps']} steps in {seconds}s; held out: {[s.name for s in held_out]}")


if __name__ == "__main__":
    main()
