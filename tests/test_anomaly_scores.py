"""Anomaly score kinds: each through the CLI on a tiny model, and the complexity correction's flip."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genzoo.apps import anomaly, anomaly_scores
from genzoo.apps.anomaly_scores import ScoreContext
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.protocols import Likelihood


class LocalPixelModel(Likelihood):
    """A local likelihood: each pixel given its left neighbour, a discretised Gaussian on the difference.

    The kind of model the complexity correction is for: fitted to noisy textures it still gives a flat image
    its highest likelihood (every difference is 0), whatever the class of the training data."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def eval(self) -> LocalPixelModel:
        return self

    def log_prob(self, x: torch.Tensor, **_: object) -> torch.Tensor:
        q = (x.clamp(0, 1) * 255).round() / 255
        diff = torch.cat([q[..., :1] - 0.5, q[..., 1:] - q[..., :-1]], dim=-1)
        log_density = -0.5 * (diff / self.sigma) ** 2 - math.log(self.sigma * math.sqrt(2 * math.pi))
        return (log_density + math.log(1 / 255)).flatten(1).sum(1)


def test_complexity_correction_flips_the_ranking_where_raw_likelihood_inverts() -> None:
    g = torch.Generator().manual_seed(0)
    textures = torch.rand(64, 1, 16, 16, generator=g)  # normal: complex images
    flat = torch.rand(64, 1, 1, 1, generator=g).expand(64, 1, 16, 16).contiguous()  # anomalous: simple ones
    model = LocalPixelModel(sigma=float((textures[..., 1:] - textures[..., :-1]).std()))
    x = torch.cat([textures, flat])
    flags = torch.cat([torch.zeros(64), torch.ones(64)])
    raw = anomaly.report(anomaly_scores.score("nll", model, x), flags)["auroc"]
    corrected = anomaly.report(anomaly_scores.score("complexity", model, x), flags)["auroc"]
    zlib_corrected = anomaly.report(
        anomaly_scores.score("complexity", model, x, ScoreContext(compressor="zlib")), flags
    )["auroc"]
    assert raw < 0.1  # raw likelihood calls the flat images the most normal
    assert corrected > 0.9 and zlib_corrected > 0.9
    png = anomaly_scores.code_length_bits(x)
    assert png[64:].max() < png[:64].min()  # the compressor agrees which images are simple


def test_scores_refuse_what_the_model_or_data_cannot_do() -> None:
    model = LocalPixelModel(0.3)
    with pytest.raises(GenzooError, match="latent space"):
        anomaly_scores.score("recon", model, torch.rand(4, 1, 8, 8))
    with pytest.raises(GenzooError, match="image data"):
        anomaly_scores.score("complexity", model, torch.rand(4, 8))
    with pytest.raises(GenzooError, match="background"):
        anomaly_scores.score("ratio", model, torch.rand(4, 1, 8, 8))
    with pytest.raises(GenzooError, match="unknown anomaly score"):
        anomaly_scores.score("psychic", model, torch.rand(4, 1, 8, 8))
    assert anomaly_scores.available(model, images=False) == ["nll", "ratio"]
    perturbed = anomaly_scores.perturb(torch.zeros(200, 1, 8, 8), 0.25)
    assert 0.2 < (perturbed != 0).float().mean() < 0.3


def _cli_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_every_score_kind_runs_through_the_cli_and_gives_auroc(tmp_path, capsys) -> None:
    run = str(tmp_path / "digits0")
    tiny = ["--no-progress", "-o", "hidden=8", "-o", "latent_dim=4", "-o", "likelihood=logistic"]
    base = ["anomaly", "fit", run]
    assert main([*base, "--model", "vae", "--data", "digits", "--anomalous", "0", "--score", "ratio",
                 "--max-steps", "15", "--background-steps", "10", *tiny]) == 0
    results = {"ratio": _cli_json(capsys, ["anomaly", "score", run])}
    for kind in ("nll", "complexity", "recon", "latent", "auto", "ratio"):  # reusing the trained run
        extra = ["--background", str(tmp_path / "digits0" / "background")] if kind == "ratio" else []
        assert main([*base, "--score", kind, *extra]) == 0
        results[kind] = _cli_json(capsys, ["anomaly", "score", run])
    for kind, r in results.items():
        assert 0.0 <= r["auroc"] <= 1.0 and r["n_anomalous"] > 0, kind
        assert r["score"] == (kind if kind != "auto" else "latent")
    assert (tmp_path / "digits0" / anomaly.LATENTS_FILE).is_file()
    assert len({round(r["auroc"], 6) for r in results.values()}) >= 4  # different scores, different rankings
    capsys.readouterr()
    assert main([*base, "--score", "psychic"]) == 2
    assert main(["anomaly", "fit", str(tmp_path / "t"), "--model", "maf", "--data", "breast_cancer",
                 "--score", "complexity", "--max-steps", "2", "--no-progress"]) == 2
    assert "image data" in capsys.readouterr().err
