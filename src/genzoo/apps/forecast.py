"""Probabilistic forecasting: fit / predict(horizon, num_samples) / rolling-origin backtest, and the CLI.

    from genzoo.apps import forecast as fc
    series = fc.load_series("co2", holdout=36)              # or fc.load_series(csv="f.csv", time_col=...)
    model = fc.fit(series, steps=1500, out="runs/co2", differencing=1, calibrate_spread=True)
    paths = fc.predict(model, series, horizon=36, num_samples=200)   # (200, 36) sample paths
    fc.backtest(series, horizon=12, folds=3, steps=800)     # metrics at rolling origins

    genzoo forecast train --data co2 --out runs/co2 --steps 1500 -O differencing=1 --calibrate
    genzoo forecast predict runs/co2 --horizon 36 --samples 200 -o co2_forecast   # .csv + .png
    genzoo forecast backtest --data sunspots --horizon 10 --folds 3

Training is a plain loop (Adam, gradient clipping, a cosine learning-rate decay) over random windows:
a single series is a few hundred points, so Lightning's per-step machinery would cost more than the
maths. The model itself follows the genzoo protocol, so `genzoo.fit(model, ForecastWindows(...))` works
too. Runs are saved with `genzoo.hub` plus the training series (`history.csv`) that `predict` continues.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

HISTORY_FILE = "history.csv"
ZERO_SHOT = Path(__file__).resolve().parent.parent / "data" / "pretrained" / "zero_shot"
QUANTILES = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)


def load_series(
    data: str | None = None,
    csv: str | None = None,
    time_col: str | None = None,
    value_col: str | None = None,
    holdout: int | None = None,
    split: str = "train",
    gaps: str = "interpolate",
    season_length: int | None = None,
) -> Any:
    """A `Series` by dataset name (train split unless told) or from a CSV file."""
    import genzoo as gz
    from genzoo.data.series import Series, load_csv

    if (data is None) == (csv is None):
        raise GenzooError("give exactly one of a dataset name (--data) or a CSV file (--csv)")
    if csv is not None:
        series = load_csv(csv, time_col, value_col, season_length, gaps)
        if holdout:
            series = series.head(len(series) - holdout)
        return series
    options: dict[str, Any] = {"gaps": gaps}
    if holdout is not None:
        options["holdout"] = holdout
    series = gz.data.load(data, split=split, **options)
    series = getattr(series, "series", None)
    if not isinstance(series, Series):
        raise GenzooError(f"dataset {data!r} is not a time series")
    return series


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` intra-op threads (None: leave as is), restoring the setting afterwards.

    A forecaster's LSTM steps are tiny and sequential: splitting them across threads only adds
    synchronisation, and on a loaded machine (more runnable threads than cores) a 2-thread step measured
    ~45x slower than a 1-thread one. So training and sampling default to one thread.
    """
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(
    series: Any,
    steps: int = 1500,
    batch_size: int = 32,
    lr: float | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    model: str = "lstm_forecaster",
    progress: bool = False,
    threads: int | None = 1,
    calibrate_spread: bool = False,
    on_step: Callable[[int, Any], None] | None = None,
    **overrides: Any,
) -> Any:
    """Create a forecaster for `series` (one `Series`, or a list for a global model; config overrides as
    keywords), train it, optionally fit its `spread` on rolling origins of `series` (see `calibrate`),
    save it to `out`. `on_step(step, model)` is called after every step (learning curves)."""
    import torch

    import genzoo as gz
    from genzoo.data.series import SeriesDataset
    from genzoo.data.series_collection import SeriesCollection

    if steps < 1:
        raise GenzooError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    data = SeriesCollection(series, 0) if isinstance(series, list) else SeriesDataset(series)
    net = gz.create(model, data=data, **overrides)
    windows = net.windows_for(series, epoch_size=steps * batch_size, seed=seed)
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    lr = lr if lr is not None else net.default_lr
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    net.train()
    with torch_threads(threads):
        for step, batch in enumerate(loader):
            loss = net.loss(batch)["loss"]
            if not torch.isfinite(loss):
                raise GenzooError(f"training diverged (loss {loss.item()}) at step {step}; try a lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            sched.step()
            if progress and step % max(1, steps // 10) == 0:
                print(f"step {step:5d}  loss {loss.item():.4f}", flush=True)
            if on_step is not None:
                on_step(step, net)
                net.train()
    net.eval()
    if calibrate_spread:
        calibrate(net, series)
    if out is not None:
        save(net, series, out, steps)
    return net


def save(model: Any, series: Any, out: str | Path, steps: int = 0) -> Path:
    """hub.save plus the series the model continues (history.csv) and its description; for a model trained
    on a list of series, their names."""
    import numpy as np

    from genzoo import hub

    out = Path(out)
    if isinstance(series, list):  # a global model: no one series to continue, so no history.csv
        hub.save(model, out, extra={"trained_on": [s.name for s in series], "trained_steps": steps})
        return out
    hub.save(model, out, extra={"series": series.to_dict(), "trained_steps": steps})
    np.savetxt(out / HISTORY_FILE, series.values, delimiter=",", header="value", comments="")
    return out


def load_run(run: str | Path) -> tuple[Any, Any]:
    """(model, training series) of a saved forecasting run."""
    import numpy as np

    import genzoo as gz
    from genzoo.data.series import Series
    from genzoo.hub import read_meta

    run = Path(run)
    meta = read_meta(run)
    if "series" not in meta or not (run / HISTORY_FILE).is_file():
        raise GenzooError(
            f"{run} is not a forecasting run (no series/{HISTORY_FILE}); train one with genzoo forecast train"
        )
    values = np.loadtxt(run / HISTORY_FILE, delimiter=",", skiprows=1, ndmin=1)
    s = meta["series"]
    return gz.load(run), Series(s["name"], values, s["freq"], s["start"], int(s["season_length"]))


def predict(
    model: Any, series: Any, horizon: int, num_samples: int = 200, seed: int = 0, threads: int | None = 1
) -> Any:
    """Sample paths (num_samples, horizon) continuing `series` (numpy float64)."""
    import torch

    if horizon < 1:
        raise GenzooError(f"horizon must be at least 1, got {horizon}")
    torch.manual_seed(seed)
    with torch_threads(threads):
        return model.sample(
            num_samples, history=series.values, horizon=horizon, start_phase=series.start_phase()
        ).numpy()


def calibrate(
    model: Any,
    series: Any,
    horizon: int | None = None,
    origins: int | None = None,
    stride: int | None = None,
    num_samples: int = 200,
) -> tuple[float, float]:
    """Fit the model's spread correction: factors a * h^-b on the sample paths' deviations from their
    per-step median (h = 1..horizon) that minimise the mean CRPS, a proper score (so sharpness and
    calibration are traded honestly), of `horizon`-step forecasts from `origins` rolling origins `stride`
    apart at the end of `series`. Sets `model.config.spread, spread_power = a, b` and returns them.

    Why: ancestral sampling compounds one-step noise as if it were independent. For a differenced series
    it is not (the first difference of noise about a smooth curve is negatively autocorrelated), so the
    bands widen too fast with the horizon: b > 0 undoes that, a corrects the one-step scale. When `series`
    is the training series the model has seen those targets, which biases the fit towards narrow bands; a
    series extending past the training data (a validation tail) avoids that.
    """
    import numpy as np

    from genzoo.models.rnn.lstm_forecaster import spread_factors

    horizon = horizon or model.config.prediction_length
    stride = stride or max(1, horizon // 2)
    last = len(series) - horizon
    if origins is None:  # as many as the series has room for, up to 12 (a short series still gets 2)
        origins = max(1, min(12, (last - model.min_history()) // stride + 1))
    first = last - stride * (origins - 1)
    if origins < 1 or first < model.min_history():
        raise GenzooError(
            f"{origins} calibration origins {stride} apart with horizon {horizon} need a series of "
            f"{model.min_history() + horizon + stride * (origins - 1)} points; it has {len(series)}"
        )
    if model.config.likelihood == "negbin":
        raise GenzooError("spread calibration rescales continuous paths; the negbin head draws integer counts")
    model.config.spread, model.config.spread_power = 1.0, 0.0
    grid = np.linspace(0.05, 3.0, 119)  # candidate factors for one step
    table = np.zeros((horizon, len(grid)))  # mean CRPS of step h when its deviations are scaled by grid[j]
    for origin in range(first, last + 1, stride):
        paths = predict(model, series.head(origin), horizon, num_samples, seed=origin)
        median = np.median(paths, 0)
        dev = np.sort(paths - median, axis=0)  # scaling by f > 0 keeps the order
        truth = series.values[origin : origin + horizon] - median
        weights = (2 * np.arange(1, num_samples + 1) - num_samples - 1)[:, None] / num_samples**2
        spread_term = np.sum(weights * dev, axis=0)  # 0.5 E|X - X'| of the unscaled deviations
        for j, f in enumerate(grid):
            table[:, j] += np.mean(np.abs(f * dev - truth), axis=0) - f * spread_term
    best, best_score = (1.0, 0.0), np.inf
    for a in np.arange(0.2, 2.001, 0.05):
        for b in np.arange(-0.5, 1.001, 0.05):
            f = spread_factors(a, b, horizon)[0]
            score = sum(np.interp(f[h], grid, table[h]) for h in range(horizon))
            if score < best_score:
                best, best_score = (round(float(a), 2), round(float(b), 2) + 0.0), score  # no -0.0
    model.config.spread, model.config.spread_power = best
    return best


def backtest(
    series: Any,
    horizon: int,
    folds: int = 3,
    stride: int | None = None,
    retrain: bool = False,
    num_samples: int = 200,
    model: Any = None,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """Rolling-origin evaluation: forecast `horizon` steps from `folds` origins `stride` apart at the end.

    The model is trained once on the data before the first origin (or reused if given), and refitted at
    every origin only with `retrain=True`. Returns per-fold metrics and their means.
    """
    import numpy as np

    from genzoo.metrics.forecast import score

    stride = stride or horizon
    first = len(series) - horizon - stride * (folds - 1)
    if folds < 1 or first < 2 * max(1, series.season_length) + 1:
        raise GenzooError(
            f"{folds} folds of horizon {horizon} do not fit in a series of {len(series)} points"
        )
    rows = []
    for k in range(folds):
        origin = first + k * stride
        past = series.head(origin)
        if model is None or (retrain and k > 0):
            model = fit(past, **{"prediction_length": horizon, **fit_kwargs})
        paths = predict(model, past, horizon, num_samples)
        truth = series.values[origin : origin + horizon]
        rows.append({"origin": origin, **score(truth, paths, past.values, series.season_length)})
    means = {m: float(np.mean([r[m] for r in rows])) for m in ("mase", "smape", "crps", "coverage_80")}
    return {"folds": rows, "mean": means}


# -- outputs ----------------------------------------------------------------------------------------------
def write_quantiles(path: str | Path, series: Any, paths: Any) -> Path:
    """CSV with one row per future step: timestamp, mean and the QUANTILES of the sample paths."""
    import numpy as np

    horizon = paths.shape[1]
    stamps = series.index(horizon)[-horizon:]
    qs = np.quantile(paths, QUANTILES, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write("time,mean," + ",".join(f"q{q:g}" for q in QUANTILES) + "\n")
        for h in range(horizon):
            f.write(
                f"{stamps[h]},{paths[:, h].mean():.6g},"
                + ",".join(f"{qs[i, h]:.6g}" for i in range(len(QUANTILES)))
                + "\n"
            )
    return path


def plot(path: str | Path, series: Any, paths: Any, truth: Any = None, history: int | None = None) -> Path:
    """PNG: the recent history, the forecast median and its 80% and 95% bands (and the truth if known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    horizon = paths.shape[1]
    n = len(series)
    history = history or min(n, max(4 * horizon, 3 * series.season_length))
    x_hist = np.arange(n - history, n)
    x_fut = np.arange(n, n + horizon)
    q = np.quantile(paths, (0.025, 0.1, 0.5, 0.9, 0.975), axis=0)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=80)
    ax.plot(x_hist, series.values[-history:], color="black", lw=1, label="history")
    ax.fill_between(x_fut, q[0], q[4], color="tab:blue", alpha=0.2, label="95%")
    ax.fill_between(x_fut, q[1], q[3], color="tab:blue", alpha=0.4, label="80%")
    ax.plot(x_fut, q[2], color="tab:blue", lw=1.5, label="median")
    if truth is not None:
        ax.plot(x_fut[: len(truth)], truth, color="tab:red", lw=1, ls="--", label="truth")
    stamps = series.index(horizon)
    ticks = np.linspace(n - history, n + horizon - 1, 6).astype(int)
    ax.set_xticks(ticks, [stamps[t] for t in ticks], fontsize=7)
    ax.set_title(f"{series.name}: {horizon}-step forecast from {paths.shape[0]} sample paths", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# -- CLI ----------------------------------------------------------------------------------------------------
def _add_series_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", default=None, help="series name: co2, sunspots, nile, elnino, macrodata, airpassengers"
    )
    p.add_argument("--csv", default=None, help="a CSV file instead of --data")
    p.add_argument("--time-col", default=None,
                   help="CSV column with dates (default: a first column named date, month, year, ...; else steps)")
    p.add_argument("--value-col", default=None, help="CSV column with values (default: the last)")
    p.add_argument(
        "--season-length", type=int, default=None, help="season of a CSV series (default from its frequency)"
    )
    p.add_argument(
        "--holdout", type=int, default=None, help="points held out at the end (default per dataset)"
    )
    p.add_argument("--gaps", default="interpolate", choices=("interpolate", "refuse"))


def _series(args: argparse.Namespace) -> Any:
    return load_series(
        args.data,
        args.csv,
        args.time_col,
        args.value_col,
        args.holdout,
        gaps=args.gaps,
        season_length=args.season_length,
    )


def cmd_train(args: argparse.Namespace) -> None:
    from genzoo.cli_args import parse_overrides

    series = _series(args)
    fit(
        series,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        out=args.out,
        model=args.model,
        progress=not args.no_progress,
        calibrate_spread=args.calibrate,
        **parse_overrides(args.option),
    )
    print(f"genzoo: trained {args.model} on {series.name} ({len(series)} points) -> {args.out}")


def zero_shot() -> Any:
    """The shipped pretrained forecaster (a `global_forecaster` run inside the package, a few MB)."""
    import genzoo as gz
    from genzoo.protocols import Forecaster

    if not (ZERO_SHOT / "config.json").is_file():
        raise GenzooError(f"this install has no pretrained zero-shot forecaster (expected at {ZERO_SHOT})")
    return gz.load(ZERO_SHOT, needs=Forecaster)


def cmd_predict(args: argparse.Namespace) -> None:
    from genzoo.data.series_collection import horizon_of

    if args.samples < 2:
        raise GenzooError(f"--samples must be at least 2 for quantiles, got {args.samples}")
    if args.model == "zero-shot":
        if args.run is not None:
            raise GenzooError("give a run directory or --model zero-shot, not both")
        model, series = zero_shot(), _series(args)
        horizon = args.horizon or min(horizon_of(series), model.config.prediction_length)
        import torch

        torch.manual_seed(args.seed)
        with torch_threads(1):
            paths = model.sample(args.samples, history=series.values, horizon=horizon,
                                 season_length=series.season_length).numpy()
    else:
        if args.run is None:
            raise GenzooError("give the run directory to forecast from (or --model zero-shot --csv FILE)")
        if args.model is not None:
            raise GenzooError(f"--model {args.model!r}: only 'zero-shot' names a model here; a run knows its own")
        model, series = load_run(args.run)
        horizon = args.horizon or model.config.prediction_length
        paths = predict(model, series, horizon, args.samples, args.seed)
    stem = Path(args.output)
    csv = write_quantiles(stem.with_suffix(".csv"), series, paths)
    png = plot(stem.with_suffix(".png"), series, paths)
    print(f"genzoo: wrote {csv} and {png}")


def cmd_backtest(args: argparse.Namespace) -> None:
    from genzoo.cli_args import parse_overrides

    series = _series(args)
    result = backtest(
        series,
        args.horizon,
        args.folds,
        retrain=args.retrain,
        num_samples=args.samples,
        steps=args.steps,
        seed=args.seed,
        **parse_overrides(args.option),
    )
    print(json.dumps(result, indent=2))


def add_commands(sub: Any) -> None:
    from genzoo.cli_args import add_model_option_argument

    p = sub.add_parser("forecast", help="probabilistic time-series forecasting (train | predict | backtest)")
    verbs = p.add_subparsers(dest="forecast_command", required=True, parser_class=type(p))

    t = verbs.add_parser("train", help="train a forecaster on a series")
    _add_series_arguments(t)
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--model", default="lstm_forecaster", help="lstm_forecaster or transformer_forecaster")
    t.add_argument("--steps", type=int, default=1500)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-progress", action="store_true")
    t.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the spread of the sample paths (a*h^-b, by CRPS) on rolling origins at the end of the series",
    )
    add_model_option_argument(t, "model config key=value, e.g. -O prediction_length=36 -O differencing=1")
    t.set_defaults(func=cmd_train)

    r = verbs.add_parser(
        "predict", help="sample paths from a trained run, or from the pretrained --model zero-shot -> CSV + PNG"
    )
    r.add_argument("run", nargs="?", default=None, help="a run from `genzoo forecast train`")
    r.add_argument("--model", default=None, choices=("zero-shot",), help="the shipped pretrained forecaster")
    _add_series_arguments(r)
    r.add_argument("--horizon", type=int, default=None, help="steps ahead (default: the model's horizon)")
    r.add_argument("--samples", type=int, default=200)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output", default="forecast", help="output stem: writes STEM.csv and STEM.png")
    r.set_defaults(func=cmd_predict)

    b = verbs.add_parser("backtest", help="rolling-origin evaluation (MASE, sMAPE, CRPS, coverage_80)")
    _add_series_arguments(b)
    b.add_argument("--horizon", type=int, required=True)
    b.add_argument("--folds", type=int, default=3)
    b.add_argument("--steps", type=int, default=800)
    b.add_argument("--samples", type=int, default=200)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--retrain", action="store_true", help="refit at every origin")
    add_model_option_argument(b)
    b.set_defaults(func=cmd_backtest)
