"""`fit(loggers=...)` / `--logger`: Lightning's loggers by name; sample grids reach TensorBoard as images."""

from __future__ import annotations

import importlib.util

import pytest

import genzoo as gz
from genzoo.errors import GenzooError


def tiny_vae(data):
    return gz.create("vae", data=data, hidden=8, latent_dim=4, seed=0)


def test_csv_only_writes_no_tensorboard(digits_train, tmp_path):
    gz.fit(tiny_vae(digits_train), digits_train, max_steps=2, batch_size=8, out=tmp_path, progress=False,
           log_every=1, loggers="csv")
    assert list((tmp_path / "logs").rglob("metrics.csv")) and not (tmp_path / "tb").exists()


def test_sample_grids_are_logged_to_tensorboard(digits_train, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    gz.fit(tiny_vae(digits_train), digits_train, max_steps=2, batch_size=8, out=tmp_path, progress=False,
           log_every=1, sample_every=1, loggers=["tensorboard"])
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert "samples" in events.Tags()["images"] and not (tmp_path / "logs").exists()


def test_unknown_or_missing_loggers_are_one_line(digits_train, tmp_path):
    with pytest.raises(GenzooError, match="unknown logger 'neptune'"):
        gz.fit(tiny_vae(digits_train), digits_train, max_steps=1, out=tmp_path, loggers="csv,neptune")
    if importlib.util.find_spec("mlflow") is None:
        with pytest.raises(GenzooError, match="pip install mlflow"):
            gz.fit(tiny_vae(digits_train), digits_train, max_steps=1, out=tmp_path, progress=False, loggers="mlflow")
