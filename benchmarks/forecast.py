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
  origin), weighted per series by inverse MAE on 3 rolling origins replayed inside the history, its 80% and
  95% bands conformal on those origins with each origin's scores taken from weights fitted on the others;
  `forecast_ensemble_uncalibrated` is the same average with the members' own spread.
  Its options (the network's weight, the shortest history it is used on, the power of the inverse-error
  weights, the calibration's scale, tail, growth over the steps and Gaussian floor; 14 x 18 settings) are
  chosen on the TUNING half of the series only: the point
  options by mean MASE there, then the calibration options by |coverage_80 - 0.8| + |coverage_95 - 0.95|
  there; every grid point's tuning-half figures are in the "tuning:grid" rows. The REPORT half (the headline,
  tasks "report" and "report:freq:...") was never looked at to choose anything. The split is fixed and stratified by
  frequency: within a frequency, series ordered by the md5 of their names alternate tuning, report (`split`).
- zero_shot: the shipped pretrained checkpoint, trained once on kernel-synth GP series plus the training
  parts of half the corpus; scored on the other half only ("unseen"), against seasonal naive there.
- statistical_average: the ensemble without the network (AutoETS, AutoARIMA, AutoTheta averaged, their
  own spread), to show what the network adds.
- statsforecast models: their mean is the point forecast; their 80% band (mean +- 1.28 sigma) gives sigma,
  and CRPS / the 95% band use the Gaussian it implies.
- darts: `benchmarks/forecast_darts.py` runs it on the same series, origins and split (it is not a genzoo
  dependency; install it beside genzoo without touching torch) and writes `forecast_darts.json`.
Metrics per series (mean over its origins): MASE (seasonal scale from the history before the origin),
scaled CRPS (CRPS over the same scale, so series can be averaged), coverage of the 80% and 95% bands.
Summaries: mean and median over series, means per frequency.

Run: PYTHONPATH=src python benchmarks/forecast.py [--smoke]   (~7 min on one shared CPU core)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
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
POINT_GRID = [dict(network_weight=w, network_min_history=n, weight_power=p)
              for w in (0.0, 0.5, 1.0) for n in (0, 80, 150) for p in (1.0, 2.0) if w or not n]
# calibration: scale x tail x (growth, Gaussian floor); the plain split-conformal option is the first
CAL_GRID = [dict(calibration_scale=c, calibration_tail=t, calibration_growth=g, calibration_gaussian_floor=f)
            for c in ("sigma", "naive") for t in (1.0, 0.75, 0.5)
            for g, f in (("scale", False), ("scale", True), ("fitted", True))]
PLAIN = CAL_GRID[0]
GRID = [{**a, **b} for a, b in itertools.product(POINT_GRID, CAL_GRID)]


HALVES: dict[str, str] = {}


def split(series: list) -> None:
    """The fixed split, stratified by frequency: within each frequency the series, ordered by the md5 of
    their names, go alternately to the "tuning" and the "report" half (the first to tuning)."""
    for freq in sorted({s.freq for s in series}):
        names = sorted((s.name for s in series if s.freq == freq), key=lambda n: hashlib.md5(n.encode()).hexdigest())
        HALVES.update({n: ("tuning", "report")[i % 2] for i, n in enumerate(names)})


def half_of(name: str) -> str:
    return HALVES[name]


def label(option: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in option.items())


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
    split(series)
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
    grid: dict[int, dict[str, list[dict[str, float]]]] = {}
    uncal: dict[int, dict[str, list[dict[str, float]]]] = {}
    plots: dict = {}
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
            members, replays = ens.replays(hist, h, m)
            seconds["forecast_ensemble"] += time.perf_counter() - t
            draws = np.random.default_rng(k).standard_normal((SAMPLES, h))
            for i, option in enumerate(GRID):
                for key, value in option.items():
                    setattr(ens.config, key, value)
                point, scale, warp = ens.combine_replays(members, replays, hist, m)
                paths = point + scale * warp(draws)
                grid.setdefault(i, {}).setdefault(s.name, []).append(scores(truth, paths, hist, m))
                if k == ORIGINS - 1 and s.name in ("co2", "nile"):
                    plots[i, s.name] = (s.head(o), paths, truth)
                if all(option[key] == value for key, value in PLAIN.items()):
                    sigma = ens.mix(members, ens.weights(replays, len(members), len(hist)), hist, m)[1]
                    uncal.setdefault(i, {}).setdefault(s.name, []).append(
                        scores(truth, gaussian(point, sigma, k), hist, m))
            if s.name in unseen:
                torch.manual_seed(k)
                paths = zero.sample(SAMPLES, history=hist, horizon=h, season_length=m).numpy()
                rows.setdefault("zero_shot", []).append(scores(truth, paths, hist, m))
                rows.setdefault("seasonal_naive_unseen", []).append(rows["seasonal_naive"][-1])
        per[s.name] = rows
        print(f"{s.name} ({half_of(s.name)}): autoarima {np.mean([v['mase'] for v in rows['autoarima']]):.3f}",
              flush=True)

    chosen = choose(res, grid, [s.name for s in series if half_of(s.name) == "tuning"])
    for i, option in enumerate(GRID):
        if option == chosen:
            for name in per:
                per[name]["forecast_ensemble"] = grid[i][name]
            for (j, name), (head, paths, truth) in plots.items():
                if j == i:
                    fc.plot(res.file(f"forecast_{name}.png"), head, paths, truth=truth)
        if option == {**chosen, **PLAIN}:
            for name in per:
                per[name]["forecast_ensemble_uncalibrated"] = uncal[i][name]
    length = {s.name: (len(s), FREQ_NAMES.get(s.freq, "other"), horizon_of(s)) for s in series}
    for name, rows in per.items():
        for system, values in rows.items():
            for metric in values[0]:
                res.add(name, system, metric, float(np.mean([v[metric] for v in values])),
                        metric.startswith("coverage"), f"{ORIGINS} origins x {length[name][2]} steps",
                        freq=length[name][1], length=length[name][0], half=half_of(name))
    summarise(res, per, series, seconds, unseen, label(chosen))


def choose(res: Results, grid: dict, tuning: list[str]) -> dict:
    """The ensemble's options chosen on the tuning half: point options by mean MASE (at the first
    calibration option; the point does not depend on it), then calibration options by coverage error."""
    def mean(i: int, metric: str) -> float:
        return float(np.mean([np.mean([v[metric] for v in grid[i][n]]) for n in tuning]))

    for i, option in enumerate(GRID):
        for metric in ("mase", "crps_scaled", "coverage_80", "coverage_95"):
            res.add("tuning:grid", "forecast_ensemble", f"mean_{metric}", mean(i, metric),
                    metric.startswith("coverage"), f"{len(tuning)} tuning series x {ORIGINS} origins",
                    option=label(option))
    first = [i for i, o in enumerate(GRID) if all(o[k] == v for k, v in PLAIN.items())]
    best = min(first, key=lambda i: mean(i, "mase"))
    point = {k: GRID[best][k] for k in POINT_GRID[0]}
    same = [i for i, o in enumerate(GRID) if all(o[k] == v for k, v in point.items())]
    best = min(same, key=lambda i: abs(mean(i, "coverage_80") - 0.8) + abs(mean(i, "coverage_95") - 0.95))
    print(f"chosen on the tuning half: {label(GRID[best])}", flush=True)
    return GRID[best]


def summarise(res: Results, per: dict, series: list, seconds: dict, unseen: set, options: str) -> None:
    """Mean / median over series and per-frequency means, over all series ("all", "freq:...") and over each
    half ("tuning", "report", "report:freq:..."); the zero-shot win rate over seasonal naive."""
    freq_of = {s.name: FREQ_NAMES.get(s.freq, "other") for s in series}
    systems = sorted({sys_ for rows in per.values() for sys_ in rows})
    for scope, system in itertools.product(("report", "tuning", "all"), systems):
        names = [n for n in per if system in per[n] and scope in ("all", half_of(n))]
        if not names:
            continue
        budget = f"{len(names)} series x {ORIGINS} origins" + (f"; options chosen on the tuning half: {options}"
                                                               if system.startswith("forecast_ensemble") else "")
        prefix = "" if scope == "all" else f"{scope}:"
        for metric in ("mase", "crps_scaled", "coverage_80", "coverage_95"):
            values = {n: float(np.mean([v[metric] for v in per[n][system]])) for n in names}
            hib = metric.startswith("coverage")
            res.add(scope, system, f"mean_{metric}", float(np.mean(list(values.values()))), hib, budget)
            res.add(scope, system, f"median_{metric}", float(np.median(list(values.values()))), hib, budget)
            for freq in sorted(set(freq_of[n] for n in names)):
                chosen = [values[n] for n in names if freq_of[n] == freq]
                res.add(f"{prefix}freq:{freq}", system, f"mean_{metric}", float(np.mean(chosen)), hib,
                        f"{len(chosen)} series x {ORIGINS} origins")
    for system, value in seconds.items():
        res.add("all", system, "forecast_seconds", value, False, f"{len(series)} series x {ORIGINS} origins")
    if unseen:
        names = [n for n in per if "zero_shot" in per[n]]
        mean_mase = {(n, sys_): np.mean([v["mase"] for v in per[n][sys_]]) for n in names
                     for sys_ in ("zero_shot", "seasonal_naive")}
        wins = [mean_mase[n, "zero_shot"] < mean_mase[n, "seasonal_naive"] for n in names]
        res.add("unseen", "zero_shot", "win_rate_vs_seasonal_naive", float(np.mean(wins)), True,
                f"{int(np.sum(wins))} of {len(names)} series it never saw (lower mean MASE than seasonal naive)")


if __name__ == "__main__":
    main()
