"""The zero-shot forecaster: its recipe chosen on validation, then scored once on the series it never saw.

Why a separate script: benchmarks/forecast.py scores the shipped checkpoint on the held-out half of the
collection ("unseen"), but choosing how to pretrain by those figures would make them a tuning score. So the
recipe is chosen here on data that is not the test:

- selection (`--select NAME`): candidate recipes are pretrained with the seen half split again into two folds:
  every second seen series (A) is trained on (its training part, as in the real recipe), the others (B) are
  held out entirely and scored at their last 4 horizons; then the other way round. So all 20 seen series are
  scored by a model that never saw them ("select:unseen", per series "select:unseen:<series>"); the in-fold
  series' benchmark windows ("select:holdout") and 200 fresh synthetic draws ("select:synthetic") are reported
  too. The criterion is the geometric mean over those series of MASE / seasonal-naive MASE (geo_ratio; lower
  is better; the point is the network's 0.5 quantile, seasonal naive the plain last season). `--best` prints the
  candidate with the lowest geo_ratio there; `--best-shrink NAME` the `shrink` (the blend with seasonal naive,
  see GlobalForecasterConfig) with the lowest geo_ratio for that candidate ("select:shrink").
- test (`--test NAME`): the checkpoint in the package (or `--checkpoint DIR`) scored exactly as
  benchmarks/forecast.py scores it (its `scores`, 400 sample paths, the median as the point forecast, seasonal
  naive from statsforecast with the same Gaussian draws), on the 20 held-out series at the benchmark's 2 origins
  (rows "unseen", per series "unseen:<series>"), plus the same scoring on the seen half's benchmark windows
  ("validation:seen_holdout", never trained on) and the learning curve stored in the checkpoint. Every candidate
  scored on the test keeps its rows here, winning or not.

Budgets: one CPU thread; each candidate's steps x batch and wall-clock are in its rows.

Run: PYTHONPATH=src python benchmarks/zero_shot.py --select baseline   (~2-16 min per candidate)
     PYTHONPATH=src python benchmarks/zero_shot.py --test shipped      (~1 min)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "scripts"))
import pretrain_zero_shot as pz  # noqa: E402
from common import RESULTS, Results  # noqa: E402
from forecast import SAMPLES, gaussian, origins_of, scores  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps import forecast as fc  # noqa: E402
from genzoo.data.series_collection import all_series, horizon_of  # noqa: E402
from genzoo.models.forecasting import statistical  # noqa: E402
from genzoo.protocols import Forecaster  # noqa: E402

SELECT_ORIGINS = 4  # B's series are never trained on, so more of their windows can be scored
CANDIDATES = pz.RECIPES
SHRINKS = (0.0, 0.25, 0.5, 0.75)  # the zero-shot checkpoint's `shrink` (towards seasonal naive) is one of these


def fail(message: str) -> None:
    """One `genzoo: error:` line and exit code 2, as for any bad input."""
    print(f"genzoo: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def label(recipe: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in recipe.items())


def load_rows() -> list[dict[str, Any]]:
    path = RESULTS / "zero_shot.json"
    return json.loads(path.read_text())["rows"] if path.is_file() else []


def keep(res: Results, system: str, prefix: str) -> None:
    """Carry over the rows of other runs (other candidates, the other mode) and drop this run's old ones."""
    res.rows = [r for r in load_rows() if not (r["system"] == system and r["task"].startswith(prefix))]


def select(name: str) -> None:
    """Pretrain candidate `name` twice, on synthetic + the training parts of one fold of the seen half, and
    score the other fold (never trained on, SELECT_ORIGINS windows each): together every seen series is scored
    by a model that never saw it. Also the in-fold series' benchmark windows and the fixed synthetic set."""
    recipe = CANDIDATES[name]
    seen, _ = pz.halves(all_series())
    folds = (seen[0::2], seen[1::2])
    synthetic = pz.synthetic_windows()
    nets, seconds = [], 0.0
    res = Results("zero_shot")
    keep(res, name, "select")
    for i, (train, other) in enumerate((folds, folds[::-1])):
        valid = {"unseen": pz.benchmark_windows(other, SELECT_ORIGINS), "holdout": pz.benchmark_windows(train),
                 "synthetic": synthetic}
        t = time.perf_counter()
        every = max(500, recipe["steps"] // 6)
        net, curve = pz.pretrain(recipe, [pz.training_part(s) for s in train], valid, curve_every=every)
        seconds += time.perf_counter() - t
        nets.append((net, valid))
        for point in curve:
            res.add("select:learning_curve", name, "fold_unseen_geo_ratio", point["unseen_geo_ratio"], False,
                    f"fold {i}", step=point["step"], seconds=point["seconds"],
                    fold_unseen_win_rate=point["unseen_win_rate"], synthetic_geo_ratio=point["synthetic_geo_ratio"])
    budget = f"2 folds x {recipe['steps']} steps x batch {recipe['batch']}, 1 thread, {seconds:.0f} s; {label(recipe)}"
    per_fold = [pz.relative_score(net, synthetic) for net, _ in nets]
    summaries = {"unseen": pooled(nets, "unseen"), "holdout": pooled(nets, "holdout"),
                 "synthetic": {k: float(np.mean([p[k] for p in per_fold])) for k in per_fold[0]}}
    for key, summary in summaries.items():
        windows = len(synthetic) if key == "synthetic" else sum(len(valid[key]) for _, valid in nets)
        for metric, value in summary.items():
            if metric != "per_series":
                res.add(f"select:{key}", name, metric, value, metric == "win_rate", budget, windows=windows)
    for shrink in SHRINKS:
        for net, _ in nets:
            net.config.shrink = shrink
        for metric, value in pooled(nets, "unseen").items():
            if metric != "per_series":
                res.add("select:shrink", name, metric, value, metric == "win_rate", budget, shrink=shrink)
    for series_name, (value, naive) in sorted(summaries["unseen"]["per_series"].items()):
        res.add(f"select:unseen:{series_name}", name, "mase", value, False, f"{SELECT_ORIGINS} origins",
                seasonal_naive=naive)


def pooled(nets: list, key: str) -> dict[str, Any]:
    """The summary over the union of the folds' `key` windows, each scored by its own fold's network (and
    per series: (MASE, seasonal-naive MASE))."""
    zs, naive = {}, {}
    for net, valid in nets:
        zs.update(pz.validation_mase(net, valid[key]))
        per: dict[str, list[float]] = {}
        for name, hist, truth, m in valid[key]:
            per.setdefault(name, []).append(pz.mase(truth, pz.seasonal_naive(hist, m, len(truth)), hist, m))
        naive.update({n: float(np.mean(v)) for n, v in per.items()})
    ratio = [np.log(max(zs[n], 1e-9) / max(naive[n], 1e-9)) for n in zs]
    return {"mean_mase": float(np.mean(list(zs.values()))), "naive_mean_mase": float(np.mean(list(naive.values()))),
            "win_rate": float(np.mean([zs[n] < naive[n] for n in zs])), "geo_ratio": float(np.exp(np.mean(ratio))),
            "per_series": {n: (zs[n], naive[n]) for n in zs}}


def benchmark_scores(model: Any, series: list) -> dict[str, dict[str, float]]:
    """Per series: mean MASE over the benchmark's origins of the model and of seasonal naive, scored as
    benchmarks/forecast.py does (same seeds, samples and statsforecast seasonal naive)."""
    out = {}
    for s in series:
        m, h = s.season_length, horizon_of(s)
        zs, naive = [], []
        for k, o in enumerate(origins_of(s)):
            hist, truth = s.values[:o], s.values[o : o + h]
            mean, sigma = statistical.forecast(hist, h, m, "seasonal_naive")
            naive.append(scores(truth, gaussian(mean, sigma, k), hist, m)["mase"])
            torch.manual_seed(k)
            paths = model.sample(SAMPLES, history=hist, horizon=h, season_length=m).numpy()
            zs.append(scores(truth, paths, hist, m)["mase"])
        out[s.name] = {"zero_shot": float(np.mean(zs)), "seasonal_naive": float(np.mean(naive))}
    return out


def test(name: str, checkpoint: Path) -> None:
    """Score a checkpoint on the held-out half (the test) and on the seen half's benchmark windows."""
    model = gz.load(checkpoint, needs=Forecaster)
    meta = json.loads((checkpoint / "config.json").read_text())
    held_out = set(model.data_info.extra["held_out"])
    series = all_series()
    seen, unseen = pz.halves(series)
    if {s.name for s in unseen} != held_out or held_out & set(model.data_info.extra["real"]):
        fail(f"checkpoint {name!r} was not trained with the held-out half out")
    res = Results("zero_shot")
    keep(res, name, "unseen")
    res.rows = [r for r in res.rows if not (r["system"] == name and r["task"].startswith(("validation", "pretrain")))]
    budget = (f"{meta.get('trained_steps')} steps, 1 thread, {meta.get('seconds')} s pretraining; "
              f"{label(meta.get('recipe', pz.BASELINE))}")
    for scope, members in (("unseen", unseen), ("validation:seen_holdout", seen)):
        per = benchmark_scores(model, members)
        wins = [v["zero_shot"] < v["seasonal_naive"] for v in per.values()]
        res.add(scope, name, "win_rate_vs_seasonal_naive", float(np.mean(wins)), True,
                f"{int(np.sum(wins))} of {len(per)} series x 2 origins; {budget}")
        for system in ("zero_shot", "seasonal_naive"):
            res.add(scope, name, f"mean_mase_{system}", float(np.mean([v[system] for v in per.values()])), False,
                    f"{len(per)} series x 2 origins; {budget}")
        if scope == "unseen":
            for series_name, v in per.items():
                for system, value in v.items():
                    res.add(f"unseen:{series_name}", name, f"mase_{system}", value, False, "2 origins")
    for point in meta.get("learning_curve", []):
        res.add("pretrain:learning_curve", name, "seen_holdout_mean_mase", point["seen_holdout_mean_mase"], False,
                budget, step=point["step"], seconds=point["seconds"],
                seen_holdout_geo_ratio=point["seen_holdout_geo_ratio"],
                synthetic_mean_mase=point["synthetic_mean_mase"])


def best() -> str:
    """The selection rule, fixed before any test run: the candidate with the lowest geometric mean MASE ratio
    to seasonal naive on the never-trained-on fold series ("select:unseen" geo_ratio), then the higher win rate."""
    rows = [r for r in load_rows() if r["task"] == "select:unseen"]
    value = {(r["system"], r["metric"]): r["value"] for r in rows}
    names = sorted({r["system"] for r in rows})
    return min(names, key=lambda n: (value[n, "geo_ratio"], -value[n, "win_rate"]))


def best_shrink(name: str) -> float:
    """The shrink of candidate `name` with the lowest geo_ratio on the fold series it never saw (rule fixed before
    any test run, as for the recipe), then the higher win rate."""
    rows = [r for r in load_rows() if r["task"] == "select:shrink" and r["system"] == name]
    value = {(r["shrink"], r["metric"]): r["value"] for r in rows}
    if not value:
        fail(f"no select:shrink rows for {name!r}; run --select {name} first")
    return min(sorted({r["shrink"] for r in rows}), key=lambda v: (value[v, "geo_ratio"], -value[v, "win_rate"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()  # none: --test shipped, so `make bench` scores the package's
    mode.add_argument("--select", choices=sorted(CANDIDATES), help="pretrain and validate one candidate recipe")
    mode.add_argument("--test", metavar="NAME", help="score a checkpoint on the unseen series, as NAME")
    mode.add_argument("--best", action="store_true", help="print the candidate the validation rows choose")
    mode.add_argument("--best-shrink", metavar="NAME", help="print the shrink the validation rows choose for NAME")
    parser.add_argument("--checkpoint", type=Path, default=fc.ZERO_SHOT)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    if args.best:
        print(best())
    elif args.best_shrink:
        print(best_shrink(args.best_shrink))
    elif args.select:
        select(args.select)
    else:
        test(args.test or "shipped", args.checkpoint)


if __name__ == "__main__":
    main()
