"""The darts anchor for the forecasting benchmark: darts' ExponentialSmoothing on the same 40 series, the
same rolling origins and the same tuning/report split as benchmarks/forecast.py (its helpers are imported,
so the split, origins and metrics cannot drift apart).

darts is not a genzoo dependency: run this with darts importable (a separate environment; the package's
code is never copied here). ExponentialSmoothing is darts' wrapper of statsmodels' Holt-Winters (additive
trend, additive season when the history holds two seasons and a little more, none otherwise);
its 400 simulated paths give CRPS and the 80%/95% bands. darts fits it with its own defaults, nothing tuned.

Run: PYTHONPATH=src python benchmarks/forecast_darts.py   (a few minutes on one CPU core)
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402
from forecast import FREQ_NAMES, ORIGINS, SAMPLES, half_of, origins_of, scores, split  # noqa: E402

from genzoo.data.series_collection import all_series, horizon_of  # noqa: E402

SYSTEM = "darts_exponential_smoothing"


def darts_paths(history: np.ndarray, horizon: int, m: int, seed: int) -> np.ndarray:
    """(SAMPLES, horizon) simulated paths of darts' ExponentialSmoothing fitted on `history`."""
    from darts import TimeSeries
    from darts.models import ExponentialSmoothing
    from darts.utils.utils import ModelMode, SeasonalityMode

    seasonal = m > 1 and len(history) >= 2 * m + 3
    model = ExponentialSmoothing(
        trend=ModelMode.ADDITIVE,
        seasonal=SeasonalityMode.ADDITIVE if seasonal else SeasonalityMode.NONE,
        seasonal_periods=m if seasonal else None,
        random_state=seed,
    )
    model.fit(TimeSeries.from_values(history.astype(np.float64)))
    return model.predict(horizon, num_samples=SAMPLES).all_values()[:, 0, :].T


def main() -> None:
    try:
        import darts
    except ImportError:
        print("genzoo: error: darts is not importable; run this in an environment that has it", file=sys.stderr)
        sys.exit(2)
    warnings.filterwarnings("ignore")
    res = Results("forecast_darts")
    series = all_series()
    split(series)
    per: dict[str, list[dict[str, float]]] = {}
    start = time.perf_counter()
    for s in series:
        m, h = s.season_length, horizon_of(s)
        for k, o in enumerate(origins_of(s)):
            hist, truth = s.values[:o], s.values[o : o + h]
            per.setdefault(s.name, []).append(scores(truth, darts_paths(hist, h, m, k), hist, m))
        for metric in per[s.name][0]:
            res.add(s.name, SYSTEM, metric, float(np.mean([v[metric] for v in per[s.name]])),
                    metric.startswith("coverage"), f"{ORIGINS} origins x {h} steps",
                    freq=FREQ_NAMES.get(s.freq, "other"), length=len(s), half=half_of(s.name))
    seconds = time.perf_counter() - start
    budget = f"darts {darts.__version__} defaults, refitted at each origin; 1 thread; {seconds:.0f} s in all"
    freq_of = {s.name: FREQ_NAMES.get(s.freq, "other") for s in series}
    for scope in ("report", "tuning", "all"):
        names = [n for n in per if scope in ("all", half_of(n))]
        prefix = "" if scope == "all" else f"{scope}:"
        for metric in ("mase", "crps_scaled", "coverage_80", "coverage_95"):
            values = {n: float(np.mean([v[metric] for v in per[n]])) for n in names}
            hib = metric.startswith("coverage")
            res.add(scope, SYSTEM, f"mean_{metric}", float(np.mean(list(values.values()))), hib,
                    f"{len(names)} series x {ORIGINS} origins; {budget}")
            res.add(scope, SYSTEM, f"median_{metric}", float(np.median(list(values.values()))), hib,
                    f"{len(names)} series x {ORIGINS} origins; {budget}")
            for freq in sorted(set(freq_of[n] for n in names)):
                chosen = [values[n] for n in names if freq_of[n] == freq]
                res.add(f"{prefix}freq:{freq}", SYSTEM, f"mean_{metric}", float(np.mean(chosen)), hib,
                        f"{len(chosen)} series x {ORIGINS} origins")


if __name__ == "__main__":
    main()
