"""Anomaly detection app: likelihood and reconstruction scores, FPR threshold, AUROC, CLI."""

from __future__ import annotations

import json

import pytest
import torch

import genzoo as gz
from genzoo.apps import anomaly
from genzoo.cli import main
from genzoo.errors import GenzooError


def _train(model, x: torch.Tensor, steps: int, lr: float = 3e-3) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (128,))
        loss = model.loss((x[idx], torch.full((len(idx),), -1)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def test_flow_likelihood_separates_an_easy_split_and_threshold_hits_fpr() -> None:
    torch.manual_seed(0)
    train, test = gz.data.load("moons"), gz.data.load("moons", split="test")
    m = gz.create("maf", data=train, num_layers=3, hidden=(32,))
    _train(m, train.x, 150)
    assert anomaly.resolve_method(m) == "nll"
    detector = anomaly.fit_detector(m, gz.data.load("moons", split="val"), target_fpr=0.1)
    outliers = torch.rand(300, 2) * 8 - 4
    outliers = outliers[(outliers.abs() > 2.5).any(1)]
    s = anomaly.scores(m, torch.cat([test.x, outliers]))
    flags = torch.cat([torch.zeros(len(test.x)), torch.ones(len(outliers))])
    r = anomaly.report(s, flags, detector.threshold)
    assert r["auroc"] > 0.95 and r["auprc"] > 0.8
    assert 0.03 < r["fpr_at_threshold"] < 0.2  # close to the 10% asked for, on fresh normal data


def test_any_autoencoder_works_through_reconstruction_error() -> None:
    torch.manual_seed(0)
    train = gz.data.load("digits")
    vae = gz.create("vae", data=train, latent_dim=4, hidden=8, likelihood="gaussian")
    _train(vae, train.images, 40)
    assert anomaly.resolve_method(vae) == "complexity"  # a likelihood bound on images; ask for recon instead
    normal = train.images[:100]
    s = anomaly.scores(vae, torch.cat([normal, 1 - normal]), method="recon")
    assert anomaly.report(s, torch.cat([torch.zeros(100), torch.ones(100)]))["auroc"] > 0.9
    with pytest.raises(GenzooError, match="method"):
        anomaly.scores(vae, normal, method="psychic")


def test_cli_fit_and_score_one_class_out(tmp_path, capsys) -> None:
    run = str(tmp_path / "bc")
    assert (
        main(
            [
                "anomaly",
                "fit",
                run,
                "--model",
                "realnvp",
                "--data",
                "breast_cancer",
                "--anomalous",
                "0",
                "--max-steps",
                "40",
                "--no-progress",
                "-o",
                "hidden=[32]",
                "-o",
                "num_layers=2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["anomaly", "score", run]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["auroc"] > 0.7 and result["n_anomalous"] > 0
    assert main(["anomaly", "score", run, "--anomalous", "x"]) == 2
    assert main(["anomaly", "score", run, "--anomalous", "7"]) == 2
    assert main(["anomaly", "score", str(tmp_path / "missing")]) == 2
