"""Forecasting: metrics, calibrated intervals on synthetic AR data, save/reload, data loaders, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps import forecast as fc
from genzoo.cli import main
from genzoo.data import series as S
from genzoo.errors import GenzooError
from genzoo.metrics import forecast as M

TINY = dict(
    context_length=24,
    prediction_length=6,
    hidden=16,
    layers=1,
    lags=(1, 2, 3),
    calendar=False,
    likelihood="gaussian",
    scaling="none",
    dropout=0.0,
)


def ar1(n: int, phi: float = 0.8, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + sigma * rng.standard_normal()
    return y


@pytest.fixture(scope="module")
def ar_model() -> tuple:
    series = S.Series("ar1", ar1(1400), season_length=1)
    train = series.head(800)
    return fc.fit(train, steps=250, batch_size=64, lr=1e-2, **TINY), series


# -- metrics -------------------------------------------------------------------------------------------------
def test_crps_matches_gaussian_closed_form_and_mae_for_points() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    y = np.array([0.3, -1.0, 2.0])
    samples = rng.standard_normal((20000, 3))
    exact = np.mean([z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi) for z in y])
    assert M.crps(y, samples) == pytest.approx(exact, abs=0.01)
    point = np.array([[1.0, 1.0, 1.0]])
    assert M.crps(y, point) == pytest.approx(np.mean(np.abs(y - 1.0)))
    assert M.mase(np.array([3.0, 4.0]), np.array([3.0, 5.0]), np.array([0.0, 1.0, 2.0]), 1) == pytest.approx(
        0.5
    )
    assert M.smape(np.array([1.0]), np.array([3.0])) == pytest.approx(100.0)
    with pytest.raises(GenzooError):
        M.crps(y, samples[:, :2])


# -- the model ---------------------------------------------------------------------------------------------
def test_intervals_contain_truth_at_nominal_rate_on_ar_data(ar_model: tuple) -> None:
    model, series = ar_model
    inside80, inside_wide, crps_model, crps_naive = [], [], [], []
    for origin in range(820, 1390, 6):
        past = series.head(origin)
        truth = series.values[origin : origin + 6]
        paths = fc.predict(model, past, 6, 300, seed=origin)
        q = np.quantile(paths, (0.025, 0.1, 0.9, 0.975), axis=0)
        inside80.append((truth >= q[1]) & (truth <= q[2]))
        inside_wide.append((truth >= q[0]) & (truth <= q[3]))
        crps_model.append(M.crps(truth, paths))
        crps_naive.append(M.crps(truth, np.full((1, 6), past.values[-1])))
    cov80, cov95 = np.mean(inside80), np.mean(inside_wide)
    assert 0.70 <= cov80 <= 0.90, cov80
    assert 0.88 <= cov95 <= 0.99, cov95
    assert np.mean(crps_model) < 0.8 * np.mean(crps_naive)  # a real distribution beats the last value


def test_training_lowers_nll_and_sample_shapes() -> None:
    series = S.Series("ar1", ar1(400, seed=1), season_length=1)
    untrained = fc.fit(series, steps=1, **TINY)
    trained = fc.fit(series, steps=150, batch_size=64, lr=1e-2, **TINY)
    from genzoo.models.rnn.lstm_forecaster import ForecastWindows

    batch = next(
        iter(torch.utils.data.DataLoader(ForecastWindows(trained, series.values, epoch_size=64), 64))
    )
    with torch.no_grad():
        assert trained.loss(batch)["loss"] < untrained.loss(batch)["loss"] - 0.2
    assert fc.predict(trained, series, 4, 7).shape == (7, 4)


@pytest.mark.parametrize("likelihood", ["student_t", "negbin"])
def test_other_heads_train_and_respect_their_support(likelihood: str) -> None:
    rng = np.random.default_rng(2)
    counts = rng.poisson(5 + 3 * np.sin(np.arange(300) * 2 * np.pi / 12)).astype(float)
    series = S.Series("counts", counts, "MS", "2000-01-01", 12)
    kw = {**TINY, "likelihood": likelihood, "scaling": "mean", "calendar": True}
    model = fc.fit(series, steps=40, **kw)
    paths = fc.predict(model, series, 6, 50)
    assert np.isfinite(paths).all()
    if likelihood == "negbin":
        assert (paths >= 0).all() and np.all(paths == np.round(paths))


def test_differencing_follows_a_trend() -> None:
    t = np.arange(300, dtype=float)
    series = S.Series("trend", 100 + 0.5 * t + np.sin(t * 2 * np.pi / 12), "MS", "2000-01-01", 12)
    model = fc.fit(
        series,
        steps=150,
        batch_size=64,
        lr=1e-2,
        **{**TINY, "differencing": 1, "scaling": "mean", "calendar": True, "lags": (1, 12)},
    )
    median = np.median(fc.predict(model, series, 6, 100), 0)
    assert median[-1] > series.values[-1]  # extrapolates upward, which no window of raw levels showed


def test_spread_calibration_repairs_over_wide_bands_of_a_differenced_series() -> None:
    """White noise about a seasonal trend, modelled in first differences: the one-step noise of the
    differences is negatively autocorrelated, so compounding it as independent makes long-horizon bands
    too wide. Fitting spread * h^-power by CRPS on origins in the training data brings them to nominal."""
    rng = np.random.default_rng(0)
    t = np.arange(900)
    y = 5 * np.sin(2 * np.pi * t / 12) + 0.05 * t + rng.standard_normal(900)
    series = S.Series("noisy_sine", y, "MS", "2000-01-01", 12)
    kw = {**TINY, "differencing": 1, "calendar": True, "lags": (1, 2, 3, 12), "prediction_length": 12}
    model = fc.fit(series.head(600), steps=200, batch_size=64, lr=1e-2, **kw)

    def coverage_by_step() -> np.ndarray:
        inside = []
        for origin in range(610, 888, 12):
            paths = fc.predict(model, series.head(origin), 12, 200, seed=origin)
            q10, q90 = np.quantile(paths, (0.1, 0.9), axis=0)
            inside.append((y[origin : origin + 12] >= q10) & (y[origin : origin + 12] <= q90))
        return np.mean(inside, 0)

    raw = coverage_by_step()
    assert raw[-4:].mean() > 0.93, raw  # the cause: bands far too wide at long horizons
    spread, power = fc.calibrate(model, series.head(600), 12)
    assert power > 0 and (model.config.spread, model.config.spread_power) == (spread, power)
    calibrated = coverage_by_step()
    assert 0.7 <= calibrated.mean() <= 0.9, calibrated
    with pytest.raises(GenzooError, match="calibration origins"):
        fc.calibrate(model, series.head(80), 12, origins=12)
    with pytest.raises(GenzooError, match="calibration origins"):  # by default as many origins as fit; here none
        fc.calibrate(model, series.head(model.min_history() + 5), 12)


def test_save_reload_same_samples(tmp_path: Path) -> None:
    series = S.Series("ar1", ar1(200), season_length=1)
    model = fc.fit(series, steps=5, out=tmp_path / "run", **TINY)
    again, history = fc.load_run(tmp_path / "run")
    assert np.allclose(history.values, series.values)
    assert np.allclose(fc.predict(model, series, 6, 10, seed=3), fc.predict(again, history, 6, 10, seed=3))
    assert isinstance(gz.load(tmp_path / "run"), type(model))


# -- the transformer forecaster ------------------------------------------------------------------------------
TINY_TF = {**TINY, "hidden": 16, "heads": 2, "feedforward": 32}


def test_transformer_intervals_contain_truth_at_nominal_rate_on_ar_data() -> None:
    series = S.Series("ar1", ar1(1400), season_length=1)
    model = fc.fit(
        series.head(800), steps=250, batch_size=64, lr=3e-3, model="transformer_forecaster", **TINY_TF
    )
    inside80, crps_model, crps_naive = [], [], []
    for origin in range(820, 1390, 10):
        past = series.head(origin)
        truth = series.values[origin : origin + 6]
        paths = fc.predict(model, past, 6, 200, seed=origin)
        q10, q90 = np.quantile(paths, (0.1, 0.9), axis=0)
        inside80.append((truth >= q10) & (truth <= q90))
        crps_model.append(M.crps(truth, paths))
        crps_naive.append(M.crps(truth, np.full((1, 6), past.values[-1])))
    assert 0.70 <= np.mean(inside80) <= 0.90, np.mean(inside80)
    assert np.mean(crps_model) < 0.8 * np.mean(crps_naive)


def test_transformer_is_causal_and_reloads_to_the_same_paths(tmp_path: Path) -> None:
    series = S.Series("ar1", ar1(200), season_length=1)
    model = fc.fit(series, steps=3, out=tmp_path / "run", model="transformer_forecaster", **TINY_TF)
    model.eval()
    x = torch.randn(2, 20, 4, requires_grad=True)
    out, _ = model.core(x)
    out[:, 9].sum().backward()
    assert x.grad[:, 10:].abs().sum() == 0 and x.grad[:, :10].abs().sum() > 0  # no peeking ahead
    step_by_step, state = [], None  # sampling feeds one step at a time: same outputs as a whole pass
    for t in range(20):
        o, state = model.core(x[:, t : t + 1].detach(), state)
        step_by_step.append(o)
    assert torch.allclose(torch.cat(step_by_step, 1), out.detach(), atol=1e-5)
    again, history = fc.load_run(tmp_path / "run")
    assert type(again).__name__ == "TransformerForecaster"
    assert np.allclose(fc.predict(model, series, 6, 10, seed=3), fc.predict(again, history, 6, 10, seed=3))
    with pytest.raises(GenzooError, match="multiple of heads"):
        gz.create("transformer_forecaster", hidden=10, heads=4)


# -- data ----------------------------------------------------------------------------------------------------
def test_statsmodels_series_and_holdout() -> None:
    full = gz.data.load("co2", split="all").series
    train = gz.data.load("co2").series
    assert len(full) == 526 and len(train) == 490 and full.freq == "MS" and full.season_length == 12
    assert np.isfinite(full.values).all() and full.index()[0] == "1958-03"
    assert len(gz.data.load("sunspots", split="test").series) == 309


def test_csv_gaps_interpolated_with_warning_or_refused(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    dates = [f"2020-{m:02d}-01" for m in range(1, 13)] + [f"2021-{m:02d}-01" for m in range(1, 13)]
    rows = [f"{d},{'' if i == 5 else i}" for i, d in enumerate(dates) if i != 9]  # a NaN and a missing month
    csv.write_text("date,value\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="2 missing values"):
        s = S.load_csv(csv, "date", "value")
    assert len(s) == 24 and s.values[5] == pytest.approx(5.0) and s.values[9] == pytest.approx(9.0)
    with pytest.raises(GenzooError, match="missing values"):
        S.load_csv(csv, "date", "value", gaps="refuse")
    with pytest.raises(GenzooError, match="no column 'v'"):
        S.load_csv(csv, "date", "v")


def test_airpassengers_offline_error_and_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(S, "AIRPASSENGERS_URLS", ["http://127.0.0.1:9/none.csv"])
    with pytest.raises(GenzooError, match="place the CSV by hand"):
        gz.data.load("airpassengers")
    base = [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]
    growth = [1.0, 1.02, 1.25, 1.46, 1.73, 2.01, 2.35, 2.61, 2.87, 3.08, 3.38, 3.62]
    target = tmp_path / "airpassengers" / "airline-passengers.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "Month,Passengers\n"
        + "\n".join(
            f"19{49 + y}-{m + 1:02d},{round(b * g)}" for y, g in enumerate(growth) for m, b in enumerate(base)
        )
        + "\n"
    )
    with pytest.raises(GenzooError, match="checksum"):  # right shape, wrong numbers
        gz.data.load("airpassengers")


def test_airpassengers_accepts_the_real_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = [int(v) for v in (Path(__file__).parent / "data" / "airpassengers_values.txt").read_text().split()]
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    target = tmp_path / "airpassengers" / "airline-passengers.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        '"Month","Passengers"\n'
        + "\n".join(f'"{1949 + i // 12}-{i % 12 + 1:02d}",{v}' for i, v in enumerate(real))
        + "\n"
    )
    ds = gz.data.load("airpassengers", split="all")
    assert len(ds.series) == 144 and ds.series.freq == "MS" and ds.series.start == "1949-01-01"


def test_m4_monthly_reads_one_series_from_files_in_the_real_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(S, "M4_BASE", "http://127.0.0.1:9/")
    with pytest.raises(GenzooError, match="place the CSV by hand at .*Monthly-train.csv"):
        gz.data.load("m4_monthly")
    root = tmp_path / "m4"
    root.mkdir(exist_ok=True)
    width = 30  # real files pad every row with empty fields up to the longest series
    hist = {"M1": [float(100 + i % 12) for i in range(26)], "M2": [5.5, 6.5] * 12}
    rows = [
        ",".join([f'"{k}"', *(f'"{v}"' for v in vals), *([""] * (width - len(vals)))]) for k, vals in hist.items()
    ]
    header = ",".join(f'"V{i}"' for i in range(1, width + 2))
    (root / "Monthly-train.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    test_rows = [f'"{k}",' + ",".join(f'"{200 + h}"' for h in range(18)) for k in hist]
    (root / "Monthly-test.csv").write_text(
        ",".join(f'"V{i}"' for i in range(1, 20)) + "\n" + "\n".join(test_rows) + "\n"
    )
    train = gz.data.load("m4_monthly", series="M1").series
    full = gz.data.load("m4_monthly", split="all", series="M1").series
    assert np.allclose(train.values, hist["M1"]) and train.season_length == 12
    assert len(full) == 26 + 18 and full.values[-1] == 217
    assert (root / "Monthly-train.csv.sha256").is_file()  # first use pins the file
    with pytest.raises(GenzooError, match="no series 'M9'"):
        gz.data.load("m4_monthly", series="M9")
    with open(root / "Monthly-test.csv", "a") as f:
        f.write("\n")
    with pytest.raises(GenzooError, match="changed since it was first downloaded"):
        gz.data.load("m4_monthly", series="M2")


# -- bad input and the CLI -----------------------------------------------------------------------------------
def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    series = S.Series("ar1", ar1(200), season_length=1)
    model = fc.fit(series, steps=2, **TINY)
    with pytest.raises(GenzooError, match="horizon 7 is outside"):
        fc.predict(model, series, 7)
    with pytest.raises(GenzooError, match="NaN"):
        model.sample(3, history=np.r_[series.values, np.nan])
    with pytest.raises(GenzooError, match="needs at least"):
        model.sample(3, history=series.values[:10])
    with pytest.raises(GenzooError, match="one training window"):
        fc.fit(series.head(20), steps=2, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GenzooError, match="no finite values"):
            S.fill_gaps(np.array([np.nan, np.nan]), "x")


def test_cli_train_predict_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    csv = tmp_path / "ar.csv"
    csv.write_text("t,y\n" + "\n".join(f"{i},{v:.4f}" for i, v in enumerate(ar1(150))) + "\n")
    run = tmp_path / "run"
    opts = [x for k, v in TINY.items() for x in ("-o", f"{k}={list(v) if isinstance(v, tuple) else v}")]
    assert (
        main(
            [
                "forecast",
                "train",
                "--csv",
                str(csv),
                "--value-col",
                "y",
                "--out",
                str(run),
                "--steps",
                "3",
                "--no-progress",
                "--calibrate",
                *opts,
            ]
        )
        == 0
    )
    assert (
        main(
            ["forecast", "predict", str(run), "--horizon", "6", "--samples", "20", "-o", str(tmp_path / "f")]
        )
        == 0
    )
    calibrated = gz.load(run).config
    assert (calibrated.spread, calibrated.spread_power) != (1.0, 0.0)  # fitted, saved and reloaded
    lines = (tmp_path / "f.csv").read_text().splitlines()
    assert lines[0].startswith("time,mean,q0.025") and len(lines) == 7 and lines[1].startswith("150,")
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert (
        main(
            [
                "forecast",
                "backtest",
                "--csv",
                str(csv),
                "--value-col",
                "y",
                "--horizon",
                "6",
                "--folds",
                "2",
                "--steps",
                "2",
                "--samples",
                "10",
                *opts,
            ]
        )
        == 0
    )
    assert '"coverage_80"' in capsys.readouterr().out
    assert main(["forecast", "predict", str(run), "--horizon", "60", "-o", str(tmp_path / "g")]) == 2
    assert main(["forecast", "predict", str(tmp_path / "nope"), "--horizon", "6"]) == 2
    assert main(["forecast", "train", "--csv", str(csv), "--value-col", "zz", "--out", str(run)]) == 2
    assert "no column 'zz'" in capsys.readouterr().err


def test_generic_train_verb_fits_a_forecaster_on_a_series(tmp_path):
    from genzoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "lstm_forecaster", "--data", "nile", "--max-steps", "3", "--batch-size", "8",
                 "--out", str(run), "--no-progress"]) == 0
    assert (run / "model.safetensors").is_file()
