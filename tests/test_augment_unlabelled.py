"""Augmentation from unlabelled images: pseudo-labels, the confidence filter on generated samples, the
generator trained on the unlabelled rest of the training split, and `genzoo augment --from-unlabelled`."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

import genzoo as gz
from genzoo.apps.augment import run_augment
from genzoo.apps.augment_classifier import AugmentSettings, labelled_indices
from genzoo.apps.augment_unlabelled import (
    UnlabelledSettings,
    generated_samples,
    generator_from_unlabelled,
    pseudo_label,
)
from genzoo.cli import main


class MeanTeacher(nn.Module):
    """Class c when an image's mean is c / 10: confident at exactly c / 10, split 50/50 between 0 and 1 at 0.05."""

    def forward(self, x: Tensor) -> Tensor:
        m = x.flatten(1).mean(1, keepdim=True)
        return -1000.0 * (m - torch.arange(10) / 10) ** 2


class HalfGoodGenerator:
    """Every other sample is a clean image of its class (mean label / 10), the rest an ambiguous 0.05."""

    def eval(self) -> HalfGoodGenerator:
        return self

    def sample(self, n: int, labels: Tensor) -> Tensor:
        good = torch.arange(n) % 2 == 0
        value = torch.where(good, labels.float() / 10, torch.full((n,), 0.05))
        return value.view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def test_pseudo_label_keeps_only_confident_images():
    images = torch.tensor([0.3, 0.05, 0.7]).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    keep, labels = pseudo_label(MeanTeacher(), images, min_confidence=0.9)
    assert keep.tolist() == [True, False, True]
    assert labels[0] == 3 and labels[2] == 7


def test_generated_samples_drop_the_samples_the_teacher_doubts():
    x, y = generated_samples(HalfGoodGenerator(), MeanTeacher(), 10, per_class=3, min_confidence=0.9, oversample=2)
    assert torch.bincount(y, minlength=10).tolist() == [3] * 10
    assert torch.allclose(x.flatten(1).mean(1), y.float() / 10)  # no ambiguous 0.05 image got through
    # when nothing passes, one most-confident sample per class is kept rather than none
    x, y = generated_samples(HalfGoodGenerator(), MeanTeacher(), 10, per_class=3, min_confidence=0.999999, oversample=2)
    assert len(y) >= 10 and set(y.tolist()) == set(range(10))


def test_generated_samples_unfiltered_by_default_keep_every_draw():
    x, y = generated_samples(HalfGoodGenerator(), MeanTeacher(), 10, per_class=4, min_confidence=0.0)
    assert torch.bincount(y, minlength=10).tolist() == [4] * 10
    assert int((x.flatten(1).mean(1) == 0.05).sum()) == 20  # the ambiguous half is kept: no teacher filter


def test_generator_from_unlabelled_uses_the_rest_of_the_training_split():
    train = gz.data.load("digits")
    settings = AugmentSettings(per_class=5, steps=300)  # a teacher confident enough to pseudo-label
    unlabelled = UnlabelledSettings(
        steps=20, batch_size=32, label_confidence=0.5, curve_every=10, options={"hidden": 8, "latent_dim": 4}
    )
    built = generator_from_unlabelled(train, settings, unlabelled)
    r = built.report
    assert r["unlabelled"] == len(train.images) - 50
    assert 0 < r["pseudo_labelled"] <= r["unlabelled"]
    assert r["pseudo_label_accuracy"] > 0.5  # 50 labels already teach far above chance (0.1)
    assert [p["step"] for p in r["curve"]] == [10, 20]
    assert all(0.0 <= p["teacher_agreement"] <= 1.0 for p in r["curve"])
    assert built.model.sample(4, labels=torch.tensor([0, 1, 2, 3])).shape == (4, 1, 8, 8)
    # the labelled images are those every augment system uses, so no extra label leaks in
    assert len(labelled_indices(train.labels, 5)) == 50


def test_run_augment_takes_a_ready_synthetic_set():
    train, test = gz.data.load("digits"), gz.data.load("digits", split="test")
    idx = labelled_indices(train.labels, 20, seed=1)
    ready = (train.images[idx], train.labels[idx])  # real images stand in for perfect generated ones
    res = run_augment(train, test, {"ready": ready}, AugmentSettings(per_class=5, seeds=1, steps=60))
    assert {"real+ready", "real+classic+ready", "cas:ready"} <= set(res)
    assert res["cas:ready"]["mean"] > 0.3  # 200 correctly labelled images teach far above chance


def test_cli_from_unlabelled_writes_its_report(tmp_path: Path, capsys):
    out = tmp_path / "aug.json"
    args = [
        "augment",
        "--data",
        "digits",
        "--per-class",
        "5",
        "--steps",
        "5",
        "--seeds",
        "1",
        "--from-unlabelled",
        "cvae",
        "--generator-steps",
        "5",
        "--synthetic-per-class",
        "5",
        "--label-confidence",
        "0.3",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    res = json.loads(out.read_text())
    assert "real+classic+cvae-pseudo" in res and res["from_unlabelled"]["generator_steps"] == 5
    assert "pseudo-labelled" in capsys.readouterr().out


def test_cli_from_unlabelled_bad_input_gets_one_line(capsys):
    assert main(["augment", "--data", "digits", "--from-unlabelled", "vae", "--per-class", "5"]) == 2
    assert (
        main(
            [
                "augment",
                "--data",
                "digits",
                "--sample-confidence",
                "1.5",
                "--from-unlabelled",
                "cvae",
                "--per-class",
                "5",
            ]
        )
        == 2
    )
    assert main(["augment", "--data", "digits", "--synthetic-fraction", "1", "--per-class", "5"]) == 2
    err = capsys.readouterr().err
    assert "needs a class-conditional model" in err and "--sample-confidence" in err
    assert "--synthetic-fraction must be between 0 and 1" in err
    assert "Traceback" not in err
