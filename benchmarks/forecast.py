"""Forecasting benchmark on 40 real series: genzoo's global, ensemble and zero-shot forecasters against
statsforecast's AutoETS, AutoARIMA, AutoTheta and seasonal naive, on fixed rolling-origin holdouts.

Corpus: `series_collection` (statsmodels + pmdarima, no downloads): yearly, quarterly, monthly,
business-daily and plain series of 52-3000 points. Each series is forecast from ORIGINS = 2 rolling origins
(the last two windows of its horizon: 6 yearly, 8 quarterly, 18 monthly, 14 daily, 10 plain); every
system sees exactly the data before an origin.

Systems:
- global_forecaster: one N-BEATS-style network trained on windows of every series' training part (the data
  before the first origin, minus one horizon kept for the learning curve's validation MASE); the weights
  at the best validation MASE are kept (early stopping; nothing from the test windows).
- forecast_ensemble: that network averaged with AutoETS, AutoARIMA and AutoTheta (each refitted at every
  origin), weighted per series by inverse MAE on 3 rolling origins replayed inside the history, sigma
  scaled by conformal calibration on the same origins;
  `forecast_ensemble_uncalibrated` is the same average with the members' own spread.
- zero_shot: the shipped pretrained checkpoint, trained once on kernel-synth GP series plus the training
  parts of half the corpus; scored on the other half only ("unseen"), against seasonal naive there.
- statistical_average: the ensemble without the network (AutoETS, AutoARIMA, AutoTheta averaged, their
  own spread), to show what the network adds.
- statsforecast models: their mean is the point forecast; their 80% band (mean +- 1.28 sigma) gives sigma,
  and CRPS / the 95% band use the Gaussian it implies.
- darts: not run (no darts install on this machine; see the report row).
Metrics per series (mean over its origins): MASE (seasonal scale from the history before the origin),
scaled CRPS (CRPS over the same scale, so series can be averaged), coverage of the 80% and 95% bands.
Summaries: mean and median over series, means per frequency.

Run: PYTHONPATH=src python benchmarks/forecast.py [--smoke]   (~15 min on one shared CPU core)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps import forecast as fc  # noqa: E402
from genzoo.data.series_collection import all_series, horizon_of  # noqa: E402
from genzoo.metrics.forecast import crps, mase  # noqa: E402
from genzoo.models.forecasting import statistical  # noqa: E402

ORIGINS = 2
SAMPLES = 400
GLOBAL = dict(context_length=96, prediction_length=18, hidden=256, blocks=3)
STEPS, BATCH, CURVE_EVERY = 2000, 128, 250
STATS = ("seasonal_naive", "autoets", "autoarima", "autotheta")
FREQ_NAMES = {"YS": "yearly", "QS": "quarterly", "MS": "monthly", "B": "daily", "": "other"}


def scores(truth: np.ndarray, paths: np.ndarray, history: np.ndarray, m: int) -> dict[str, float]:
    scale = np.mean(np.abs(history[m:] - history[:-m]))
    q = np.quantile(paths, (0.025, 0.1, 0.5, 0.9, 0.975), axis=0)
    return {
        "mase": mase(truth, q[2], history, m),
        "crps_scaled": crps(truth, paths) / scale,
        "coverage_80": float(np.mean((truth >= q[1]) & (truth <= q[3]))),
        "coverage_95": float(np.mean((truth >= q[0]) & (truth <= q[4]))),
    }


def gaussian(mean: np.ndarray, sigma: np.ndarray, seed: int) -> np.ndarray:
    return mean + sigma * np.random.default_rng(seed).standard_normal((SAMPLES, len(mean)))


def origins_of(s: object) -> list[int]:
    h = horizon_of(s)
    return [len(s) - k * h for k in range(ORIGINS, 0, -1)]


def train_global(series: list, steps: int, res: Results, smoke: bool) -> object:
    """The global network on the training parts minus one horizon; validation MASE on that horizon is the
    learning curve (step, seconds, mean MASE over series)."""
    fit_part = [s.head(o - horizon_of(s)) for s, o in ((s, origins_of(s)[0]) for s in series)]
    start = time.perf_counter()
    curve = []
    best: dict = {"mase": np.inf}

    def validate(step: int, net: object) -> None:
        if (step + 1) % CURVE_EVERY and step + 1 != steps:
            return
        values = []
        for s in series:
            h, o = horizon_of(s), origins_of(s)[0]
            q = net.quantiles(s.values[: o - h], h, s.season_length)
            values.append(mase(s.values[o - h : o], q[6], s.values[: o - h], s.season_length))
        curve.append((step + 1, time.perf_counter() - start, float(np.mean(values))))
        if curve[-1][2] < best["mase"]:  # early stopping: keep the weights of the best validation MASE
            best.update(mase=curve[-1][2], step=step + 1, state={k: v.clone() for k, v in net.state_dict().items()})
        print(f"global step {step + 1}: {curve[-1][1]:.0f}s validation MASE {curve[-1][2]:.3f}", flush=True)

    net = fc.fit(fit_part, steps=steps, batch_size=BATCH, model="global_forecaster", on_step=validate,
                 progress=False, **GLOBAL)
    net.load_state_dict(best["state"])
    budget = (f"{steps} steps x batch {BATCH}, 1 thread, width {GLOBAL['hidden']} x {GLOBAL['blocks']} blocks; "
              f"weights of the best validation MASE (step {best['step']})")
    for step, seconds, value in curve:
        res.add("learning_curve", "global_forecaster", "validation_mase", value, False, budget,
                step=step, seconds=seconds)
    res.add("all", "global_forecaster", "fit_seconds", curve[-1][1], False, budget)
    return net


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="3 series, a few steps, results to *_smoke.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    res = Results("forecast", smoke=args.smoke)
    series = all_series()
    if args.smoke:
        series = [s for s in series if s.name in ("nile", "macro-realgdp", "airpassengers")]
    steps = 20 if args.smoke else STEPS
    net = train_global(series, steps, res, args.smoke)
    ens = gz.create("forecast_ensemble", data=None, **GLOBAL)
    ens.load_state_dict(net.state_dict())
    ens.eval()
    zero = fc.zero_shot() if not args.smoke and (fc.ZERO_SHOT / "config.json").is_file() else None
    unseen = set(zero.data_info.extra.get("held_out", [])) if zero is not None and zero.data_info else set()

    per: dict[str, dict[str, list[dict[str, float]]]] = {}
    seconds = dict.fromkeys(("forecast_ensemble", *STATS), 0.0)
    for s in series:
        m, h = s.season_length, horizon_of(s)
        rows: dict[str, list[dict[str, float]]] = {}
        for k, o in enumerate(origins_of(s)):
            hist, truth = s.values[:o], s.values[o : o + h]
            for name in STATS:
                t = time.perf_counter()
                mean, sigma = statistical.forecast(hist, h, m, name)
                seconds[name] += time.perf_counter() - t
                rows.setdefault(name, []).append(scores(truth, gaussian(mean, sigma, k), hist, m))
            members = [statistical.forecast(hist, h, m, name) for name in ens.config.members]  # cached fits
            rows.setdefault("statistical_average", []).append(scores(
                truth, gaussian(np.mean([a for a, _ in members], 0), np.mean([b for _, b in members], 0), k), hist, m))
            torch.manual_seed(k)
            rows.setdefault("global_forecaster", []).append(
                scores(truth, net.sample(SAMPLES, history=hist, horizon=h, season_length=m).numpy(), hist, m))
            t = time.perf_counter()
            point, sigma, factor = ens.combine(hist, h, m)
            seconds["forecast_ensemble"] += time.perf_counter() - t
            paths = gaussian(point, factor * sigma, k)
            rows.setdefault("forecast_ensemble", []).append(scores(truth, paths, hist, m))
            if k == ORIGINS - 1 and s.name in ("co2", "nile"):
                fc.plot(res.file(f"forecast_{s.name}.png"), s.head(o), paths, truth=truth)
            rows.setdefault("forecast_ensemble_uncalibrated", []).append(
                scores(truth, gaussian(point, sigma, k), hist, m))
            if s.name in unseen:
                torch.manual_seed(k)
                paths = zero.sample(SAMPLES, history=hist, horizon=h, season_length=m).numpy()
                rows.setdefault("zero_shot", []).append(scores(truth, paths, hist, m))
                rows.setdefault("seasonal_naive_unseen", []).append(rows["seasonal_naive"][-1])
        per[s.name] = rows
        freq = FREQ_NAMES.get(s.freq, "other")
        for system, values in rows.items():
            for metric in values[0]:
                res.add(s.name, system, metric, float(np.mean([v[metric] for v in values])),
                        metric.startswith("coverage"), f"{ORIGINS} origins x {h} steps", freq=freq, length=len(s))
        print(f"{s.name}: ensemble MASE {np.mean([v['mase'] for v in rows['forecast_ensemble']]):.3f}  "
              f"autoarima {np.mean([v['mase'] for v in rows['autoarima']]):.3f}", flush=True)

    summarise(res, per, series, seconds, unseen)


def summarise(res: Results, per: dict, series: list, seconds: dict, unseen: set) -> None:
    """Mean / median over series and per-frequency means; the zero-shot win rate over seasonal naive."""
    freq_of = {s.name: FREQ_NAMES.get(s.freq, "other") for s in series}
    systems = sorted({sys_ for rows in per.values() for sys_ in rows})
    for system in systems:
        names = [n for n in per if system in per[n]]
        budget = f"{len(names)} series x {ORIGINS} origins"
        for metric in ("mase", "crps_scaled", "coverage_80", "coverage_95"):
            values = {n: float(np.mean([v[metric] for v in per[n][system]])) for n in names}
            hib = metric.startswith("coverage")
            res.add("all", system, f"mean_{metric}", float(np.mean(list(values.values()))), hib, budget)
            res.add("all", system, f"median_{metric}", float(np.median(list(values.values()))), hib, budget)
            for freq in sorted(set(freq_of[n] for n in names)):
                chosen = [values[n] for n in names if freq_of[n] == freq]
                res.add(f"freq:{freq}", system, f"mean_{metric}", float(np.mean(chosen)), hib,
                        f"{len(chosen)} series x {ORIGINS} origins")
    for system, value in seconds.items():
        res.add("all", system, "forecast_seconds", value, False, f"{len(series)} series x {ORIGINS} origins")
    res.add("all", "darts", "not_run", 0.0, False, "darts is not installed on this machine (offline); not compared")
    if unseen:
        names = [n for n in per if "zero_shot" in per[n]]
        mean_mase = {(n, sys_): np.mean([v["mase"] for v in per[n][sys_]]) for n in names
                     for sys_ in ("zero_shot", "seasonal_naive")}
        wins = [mean_mase[n, "zero_shot"] < mean_mase[n, "seasonal_naive"] for n in names]
        res.add("unseen", "zero_shot", "win_rate_vs_seasonal_naive", float(np.mean(wins)), True,
                f"{int(np.sum(wins))} of {len(names)} series it never saw (lower mean MASE than seasonal naive)")


if __name__ == "__main__":
    main()
