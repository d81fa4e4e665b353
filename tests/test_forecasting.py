"""Forecasting across many series: CSV time columns, the offline collection, the global network, the
ensemble's calibration, kernel-synth series, a 40-point monthly CSV through the CLI, the zero-shot model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps import forecast as fc
from genzoo.cli import main
from genzoo.data import timestamps as T
from genzoo.data.kernel_synth import synth
from genzoo.data.series import Series, load_csv
from genzoo.errors import GenzooError
from genzoo.models.forecasting import statistical
from genzoo.models.forecasting.conformal import Warp, conformal_quantile, growth_exponent
from genzoo.models.forecasting.global_forecaster import GlobalWindows, encode

TINY = dict(context_length=24, prediction_length=6, hidden=32, blocks=1)


def monthly_csv(path: Path, n: int = 40, stamp: str = "iso") -> Path:
    t = np.arange(n)
    y = 100 + 0.5 * t + 8 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.5, n)
    when = [f"{1990 + i // 12}-{i % 12 + 1:02d}-01" if stamp == "iso" else f"{1990 + i // 12}{i % 12 + 1:02d}"
            for i in range(n)]
    path.write_text("date,value\n" + "".join(f"{w},{v:.3f}\n" for w, v in zip(when, y)))
    return path


# -- time columns ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column, start, freq, labels",
    [
        (list(range(1871, 1971)), "1871-01-01", "YS", ["1871", "1872"]),
        (["1990Q1", "1990Q2", "1990Q3"], "1990-01-01", "QS", ["1990Q1", "1990Q2"]),
        (["Q3 1965", "Q4 1965", "Q1 1966"], "1965-07-01", "QS", ["1965Q3", "1965Q4"]),
        (["1990-01", "1990-02"], "1990-01-01", "MS", ["1990-01", "1990-02"]),
        ([199011, 199012, 199101], "1990-11-01", "MS", ["1990-11", "1990-12"]),
        (["Jan 1949", "Feb 1949", "Mar 1949"], "1949-01-01", "MS", ["1949-01", "1949-02"]),
        (["2020-01-01", "2020-01-02", "2020-01-03"], "2020-01-01", "D", ["2020-01-01", "2020-01-02"]),
        ([0, 1, 2, 3], "0", "", ["0", "1"]),
    ],
)
def test_time_columns_parse_as_a_person_reads_them(column: list, start: str, freq: str, labels: list) -> None:
    s = T.parse(column)
    assert (s.start, s.freq) == (start, freq)
    assert T.stamps(s.start, s.freq, 2) == labels


def test_integer_years_in_a_csv_are_years_not_nanoseconds(tmp_path: Path) -> None:
    csv = tmp_path / "nile.csv"
    csv.write_text("year,flow\n" + "".join(f"{1871 + i},{1000 + i}\n" for i in range(100)))
    s = load_csv(csv, "year", "flow")
    assert s.freq == "YS" and s.index(2)[-2:] == ["1971", "1972"]


def test_missing_stamps_become_gaps_and_irregular_or_broken_columns_are_refused() -> None:
    s = T.parse(["1990Q1", "1990Q2", "1990Q4"])
    assert list(s.positions) == [0, 1, 3]
    with pytest.raises(GenzooError, match="irregular"):
        T.parse(["2020-01-01", "2020-01-02", "2020-01-04 05:00"])
    with pytest.raises(GenzooError, match="row 1 .* not a date"):
        T.parse(["2020-01-01", "soon", "2020-01-03"])
    with pytest.raises(GenzooError, match="duplicate"):
        T.parse(["1990-01", "1990-01", "1990-02"])


# -- the collection and synthetic series ----------------------------------------------------------------------
def test_series_collection_is_many_real_series_of_mixed_frequency_and_length() -> None:
    full = gz.data.load("series_collection", split="all")
    train = gz.data.load("series_collection", split="train", names="nile,airpassengers")
    assert len(full) >= 30 and {s.freq for s in full.members} >= {"YS", "QS", "MS", "B"}
    lengths = [len(s) for s in full.members]
    assert min(lengths) >= 40 and max(lengths) <= 3000
    by_name = {s.name: s for s in full.members}
    assert [len(s) for s in train.members] == [144 - 2 * 18, 100 - 2 * 6]
    assert by_name["nile"].index(1)[0] == "1871"
    with pytest.raises(GenzooError, match="no series"):
        gz.data.load("series_collection", names="nile,atlantis")


def test_kernel_synth_is_deterministic_and_seasonal_series_repeat() -> None:
    a, b = synth(20, 128, seed=3), synth(20, 128, seed=3)
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b))
    seasonal = [s for s in a if s.season_length > 1]
    assert seasonal and all(np.isfinite(s.values).all() and len(s) == 128 for s in a)


# -- the global network and the ensemble -------------------------------------------------------------------
def test_encoding_is_scale_free_and_windows_mask_what_is_missing() -> None:
    y = np.arange(30, dtype=float) % 7
    x1, loc1, scale1 = encode(y, 7, 24, 6)
    x2, loc2, scale2 = encode(1000 + 50 * y, 7, 24, 6)
    assert np.allclose(x1, x2, atol=1e-5) and scale2 == pytest.approx(50 * scale1) and loc2 == 1000 + 50 * loc1
    short, _, _ = encode(y[:5], 1, 24, 6)
    assert short[24:48].sum() == 5  # the mask marks the 5 real points of the 24-point context
    model = gz.create("global_forecaster", **TINY)
    windows = GlobalWindows(model, [Series("a", y)], epoch_size=50)
    masks = torch.stack([windows[i]["target_mask"] for i in range(50)])
    assert masks.sum(1).min() >= 1 and (masks.sum(1) < 6).any()  # cuts near the end keep a partial target


def test_global_forecaster_learns_many_seasonal_series_and_beats_seasonal_naive_noise() -> None:
    rng = np.random.default_rng(0)
    series = [Series(f"s{i}", 10 * np.sin(2 * np.pi * np.arange(120) / 12 + rng.uniform(0, 6)) + i
                     + rng.normal(0, 1, 120), season_length=12) for i in range(8)]
    model = fc.fit([s.head(108) for s in series], steps=300, batch_size=64, lr=3e-3, model="global_forecaster",
                   **TINY)
    errors, naive = [], []
    for s in series:
        q = model.quantiles(s.values[:108], 6, 12)
        assert np.all(np.diff(q, axis=0) >= 0)
        errors.append(np.abs(q[6] - s.values[108:114]).mean())
        naive.append(np.abs(s.values[96:102] - s.values[108:114]).mean())
    assert np.mean(errors) < np.mean(naive), (np.mean(errors), np.mean(naive))
    paths = model.sample(200, history=series[0].values, horizon=6, season_length=12)
    assert paths.shape == (200, 6) and torch.isfinite(paths).all()


def test_ensemble_calibration_widens_overconfident_bands_and_needs_room() -> None:
    model = gz.create("forecast_ensemble", members=["autotheta"], calibration_origins=3, calibration_scale="sigma",
                      calibration_growth="scale", calibration_gaussian_floor=False, **TINY)
    rng = np.random.default_rng(1)
    jumpy = np.cumsum(rng.standard_t(1.5, 80))  # heavy tails: the members' Gaussian bands are too narrow
    assert model.combine(jumpy, 6, 1)[2].factors[0] > 1.0
    assert model.combine(jumpy[:12], 6, 1)[2].factors == (1.0, 1.0)  # no origin leaves 10 points to fit on
    with pytest.raises(GenzooError, match="unknown ensemble member"):
        gz.create("forecast_ensemble", members=["prophet"], **TINY)


# -- the CLI on a short monthly CSV, and the shipped zero-shot model -----------------------------------------
@pytest.mark.parametrize("stamp", ["iso", "yyyymm"])
def test_a_40_point_monthly_csv_trains_and_predicts_with_default_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture, stamp: str
) -> None:
    csv = monthly_csv(tmp_path / "short.csv", 40, stamp)
    run = tmp_path / "run"
    # no --time-col: a first column named `date` is the time column
    assert main(["forecast", "train", "--csv", str(csv), "--out", str(run),
                 "--steps", "40", "--no-progress", "--calibrate"]) == 0
    assert main(["forecast", "predict", str(run), "-o", str(tmp_path / "f")]) == 0
    rows = (tmp_path / "f.csv").read_text().splitlines()
    assert rows[1].startswith("1993-05,") and len(rows) > 2
    assert (tmp_path / "f.png").stat().st_size > 0


def test_a_first_column_not_named_like_a_time_is_not_taken_for_dates(tmp_path: Path) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text("id,value\n" + "".join(f"{i},{i % 7}\n" for i in range(30)))
    assert load_csv(csv).freq == ""  # rows are steps
    csv.write_text("Month,value\n" + "".join(f"2001-{i + 1:02d},{i}\n" for i in range(12)))
    assert load_csv(csv).freq != ""


def test_zero_shot_predicts_a_new_csv_without_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if not (fc.ZERO_SHOT / "model.safetensors").is_file():
        pytest.skip("no pretrained checkpoint in this checkout (scripts/pretrain_zero_shot.py makes it)")
    assert (fc.ZERO_SHOT / "model.safetensors").stat().st_size < 8e6
    csv = monthly_csv(tmp_path / "new.csv", 60)
    assert main(["forecast", "predict", "--model", "zero-shot", "--csv", str(csv), "--time-col", "date",
                 "-o", str(tmp_path / "z")]) == 0
    rows = (tmp_path / "z.csv").read_text().splitlines()
    assert len(rows) == 1 + 18 and rows[1].startswith("1995-01,")
    assert main(["forecast", "predict", "--model", "zero-shot"]) == 2
    assert "exactly one of" in capsys.readouterr().err


def test_conformal_quantile_covers_held_out_gaussian_errors_and_warp_keeps_both_bands() -> None:
    rng = np.random.default_rng(3)
    # the finite-sample rank: over many draws of 19 calibration scores the held-out coverage is in [0.8, 0.85]
    held = np.abs(rng.standard_normal((4000, 20)))
    covered = [row[-1] <= conformal_quantile(row[:-1], 0.8) for row in held]
    assert 0.79 < np.mean(covered) < 0.86, np.mean(covered)
    assert conformal_quantile(held[0], 0.8, tail=0.5) > conformal_quantile(held[0], 0.8)
    warp = Warp((0.8, 0.95), (1.5, 1.1))  # a wide 80% band and a narrow 95% one: both must hold in samples
    x = warp(rng.standard_normal(200000))
    assert abs(np.mean(np.abs(x) <= warp.half_width(0)) - 0.8) < 0.01
    assert abs(np.mean(np.abs(x) <= warp.half_width(1)) - 0.95) < 0.01


def test_ensemble_conformal_bands_cover_about_their_level_on_gaussian_series() -> None:
    model = gz.create("forecast_ensemble", members=["seasonal_naive"], calibration_origins=3, network_weight=0.0,
                      calibration_scale="naive", calibration_tail=1.0, calibration_growth="scale",
                      calibration_gaussian_floor=False, **TINY)
    rng = np.random.default_rng(2)
    hits80, hits95 = [], []
    for _ in range(40):
        y = rng.standard_normal(46)
        point, scale, warp = model.combine(y[:40], 6, 1)
        err = np.abs(y[40:] - point) / scale
        hits80.append(err <= warp.half_width(0))
        hits95.append(err <= warp.half_width(1))
    assert 0.72 < np.mean(hits80) < 0.9, np.mean(hits80)
    assert 0.88 < np.mean(hits95) <= 1.0, np.mean(hits95)


def test_growth_exponent_follows_the_errors_slope_shrunk_by_few_origins() -> None:
    steps = np.arange(1, 11)
    linear = np.tile(steps * 1.0, (5, 1))  # errors that grow like the step: slope 1
    assert growth_exponent(linear, prior=0.5, prior_origins=2) == pytest.approx((5 * 1 + 2 * 0.5) / 7)
    assert growth_exponent(linear[:1], prior=0.5, prior_origins=2) == pytest.approx((1 + 1) / 3)
    assert growth_exponent(np.ones((5, 10)), prior=0.5, prior_origins=2) == pytest.approx(1 / 7)
    assert growth_exponent(np.tile(steps ** 3.0, (5, 1)), prior=0.0, bounds=(-0.5, 0.5)) == 0.5


def test_fitted_growth_widens_the_far_steps_of_a_trend_the_naive_scale_underrates() -> None:
    # a steady trend forecast by seasonal naive: the error grows like the step, the naive scale like sqrt(step)
    y = 3.0 * np.arange(80) + np.random.default_rng(4).normal(0, 1, 80)
    widths = {}
    for growth in ("scale", "fitted"):
        model = gz.create("forecast_ensemble", members=["seasonal_naive"], calibration_origins=3, network_weight=0.0,
                          calibration_scale="naive", calibration_growth=growth, calibration_tail=1.0,
                          calibration_gaussian_floor=False, **TINY)
        point, scale, warp = model.combine(y[:74], 6, 1)
        widths[growth] = scale * warp.half_width(0)
        assert np.all(np.diff(widths[growth]) > 0), widths[growth]  # bands widen with the step
    ratio = {g: w[-1] / w[0] for g, w in widths.items()}
    assert ratio["scale"] == pytest.approx(np.sqrt(6)) and ratio["fitted"] > 1.3 * ratio["scale"], ratio


def test_gaussian_floor_keeps_bands_at_least_the_mix_s_own_gaussian_band() -> None:
    # replays the mix forecast perfectly: conformal alone gives a band of width 0, the floor the members' sigma
    sigma = np.linspace(1.0, 3.0, 6)
    members = [(np.zeros(6), sigma), (np.zeros(6), 2 * sigma)]  # the network (weight 0 here), one member
    replays = [(members, np.zeros(6), np.arange(40.0)) for _ in range(3)]
    for floor in (False, True):
        model = gz.create("forecast_ensemble", members=["seasonal_naive"], network_weight=0.0,
                          calibration_scale="naive", calibration_gaussian_floor=floor, **TINY)
        point, scale, warp = model.combine_replays(members, replays, np.arange(40.0), 1)
        for i, z in enumerate((statistical.Z80, 1.959963984540054)):
            expected = z * 2 * sigma if floor else np.zeros(6)
            assert np.allclose(scale * warp.half_width(i), expected), (floor, i)
        if floor:
            paths = point + scale * warp(np.random.default_rng(0).standard_normal((100000, 6)))
            inside = np.mean(np.abs(paths) <= statistical.Z80 * 2 * sigma, axis=0)
            assert np.allclose(inside, 0.8, atol=0.01), inside


def test_gaussian_floor_keeps_the_outer_band_at_least_the_inner_band_s_gaussian_extension() -> None:
    # every replayed score is 5: conformal alone makes the 95% band as wide as the 80% one
    members = [(np.zeros(6), np.full(6, 1e-3)), (np.zeros(6), np.full(6, 1e-3))]
    replays = [(members, 5.0 * np.sqrt(np.arange(1, 7)), np.arange(40.0)) for _ in range(3)]
    for floor in (False, True):
        model = gz.create("forecast_ensemble", members=["seasonal_naive"], network_weight=0.0, calibration_tail=1.0,
                          calibration_scale="naive", calibration_gaussian_floor=floor, **TINY)
        warp = model.combine_replays(members, replays, np.arange(40.0), 1)[2]
        inner, outer = warp.half_width(0), warp.half_width(1)
        assert np.allclose(inner, 5.0)
        assert np.allclose(outer, 5.0 * 1.959963984540054 / statistical.Z80 if floor else 5.0), outer
