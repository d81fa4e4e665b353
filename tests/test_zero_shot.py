"""The zero-shot forecaster's pretraining recipe: the synthetic mix, the corpus that keeps the test out, the
validation scoring that chooses the recipe, and the shipped checkpoint's record of what it never saw."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps import forecast as fc
from genzoo.data.kernel_synth import FAMILIES, synth_mix
from genzoo.data.series import Series
from genzoo.errors import GenzooError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import pretrain_zero_shot as pz  # noqa: E402


def test_synth_mix_is_deterministic_mixes_families_and_lengths() -> None:
    a, b = synth_mix(60, lengths=(40, 300), seed=5), synth_mix(60, lengths=(40, 300), seed=5)
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b))
    assert all(40 <= len(s) <= 300 and np.isfinite(s.values).all() for s in a)
    assert len({len(s) for s in a}) > 20
    assert {s.name.split("-")[2] for s in a} == set(FAMILIES)
    assert any(s.season_length > 1 for s in a)
    walks = synth_mix(30, weights=(0.0, 1.0, 0.0), seed=1)
    assert all("walk" in s.name for s in walks)
    with pytest.raises(GenzooError, match="weights"):
        synth_mix(3, weights=(1.0, 0.0))


def test_a_seen_series_of_the_same_quantity_stops_before_the_held_out_test_windows() -> None:
    yearly = Series("sunspots", np.arange(309.0), "YS", "1700-01-01", 11)
    monthly = Series("sunspots-monthly", np.arange(2820.0), "MS", "1749-01-01", 1)  # ends 1983-12
    assert len(pz.training_part(yearly)) == 309 - 2 * 6
    part = pz.training_part(yearly, [monthly])
    assert len(part) == 1981 - 1700  # the monthly test windows start in January 1981
    other = Series("nile", np.arange(100.0), "YS", "1871-01-01", 1)
    assert len(pz.training_part(other, [monthly])) == 100 - 2 * 6


def test_benchmark_windows_and_relative_score_against_seasonal_naive() -> None:
    s = Series("s", np.tile(np.arange(4.0), 30), "QS", "1990-01-01", 4)
    windows = pz.benchmark_windows([s], origins=3)
    assert [len(w[1]) for w in windows] == [120 - 24, 120 - 16, 120 - 8] and all(len(w[2]) == 8 for w in windows)
    assert np.array_equal(pz.seasonal_naive(windows[0][1], 4, 8), windows[0][2])
    assert np.array_equal(pz.seasonal_naive(np.array([1.0, 2.0]), 4, 3), [2.0, 2.0, 2.0])

    class Shifted:  # seasonal naive moved one unit against the trend
        def quantiles(self, hist: np.ndarray, h: int, m: int) -> np.ndarray:
            return np.tile(pz.seasonal_naive(hist, m, h) - 1.0, (13, 1))

    trend = Series("t", np.tile(np.arange(4.0), 30) + 0.5 * np.arange(120), "QS", "0", 4)  # naive 2-4 short
    score = pz.relative_score(Shifted(), pz.benchmark_windows([trend], origins=2))
    assert score["win_rate"] == 0.0 and score["geo_ratio"] == pytest.approx(4 / 3)


def test_shrink_moves_the_forecast_to_seasonal_naive_and_keeps_its_spread() -> None:
    model = gz.create("global_forecaster", context_length=24, prediction_length=6, hidden=16, blocks=1)
    y = 3 * np.sin(np.arange(60) * 2 * np.pi / 12) + 0.1 * np.arange(60)
    alone = model.quantiles(y, 6, 12)
    model.config.shrink = 0.5
    half = model.quantiles(y, 6, 12)
    assert np.allclose(half[6], 0.5 * alone[6] + 0.5 * y[-12:-6])
    assert np.allclose(np.diff(half, axis=0), np.diff(alone, axis=0))
    with pytest.raises(GenzooError, match="shrink"):
        gz.create("global_forecaster", shrink=1.5)


def test_networks_are_independent_and_their_quantiles_are_averaged() -> None:
    tiny = dict(context_length=24, prediction_length=6, hidden=16, blocks=1)
    one = gz.create("global_forecaster", **tiny)
    assert not any(k.startswith("others") for k in one.state_dict())  # one network: the weights it always had
    three = gz.create("global_forecaster", networks=3, **tiny)
    x = torch.randn(5, three.n_in)
    outs = three.network_outputs(x)
    assert outs.shape == (3, 5, 6, 13) and torch.allclose(three(x), outs.mean(0))
    assert not torch.allclose(outs[0], outs[1])  # each network has its own initialisation
    batch = {"x": x, "target": torch.randn(5, 6), "target_mask": torch.ones(5, 6)}
    three.loss(batch)["loss"].backward()
    assert all(stack[0].mlp[0].weight.grad.abs().sum() > 0 for stack in (three.blocks, *three.others))
    with pytest.raises(GenzooError, match="networks"):
        gz.create("global_forecaster", networks=0, **tiny)


def test_the_shipped_checkpoint_never_trained_on_its_held_out_series() -> None:
    if not (fc.ZERO_SHOT / "config.json").is_file():
        pytest.skip("no pretrained checkpoint in this checkout (scripts/pretrain_zero_shot.py makes it)")
    meta = json.loads((fc.ZERO_SHOT / "config.json").read_text())
    extra = meta["data_info"]["extra"]
    assert len(extra["held_out"]) == 20 and not set(extra["held_out"]) & set(extra["real"])
    assert (fc.ZERO_SHOT / "model.safetensors").stat().st_size < 8e6
