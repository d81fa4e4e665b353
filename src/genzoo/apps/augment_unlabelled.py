"""Generated training images from unlabelled ones: a class-conditional generator trained on pseudo-labels.

A generator fitted to ten labelled images per class learns too little of each class for its samples to
help a classifier (on mnist5k they cost 5-15 accuracy points, benchmarks/results/augment.json). A user with
ten labels per class usually has thousands of unlabelled images, so the generator is given those:

1. a teacher, the augment app's SmallClassifier trained on the labelled images with classic augmentation,
   labels the unlabelled rest of the training split; only confident labels (probability at least
   `label_confidence`) are kept;
2. a class-conditional generator (`cvae` by default) is trained on the labelled plus pseudo-labelled images;
3. its samples are drawn for every class and mixed into the real + classic batches.

Filtering the samples by the teacher's confidence (`sample_confidence` > 0) is offered but off: measured on
mnist5k at 10 labels per class it cost accuracy (it keeps the samples the teacher already gets right and
drops the ones that would teach it something), see benchmarks/results/augment_unlabelled_*.json.

Measured on mnist5k (benchmarks/results/augment_unlabelled_*.json) it helps where labels are scarcest: at 10
per class real+classic+generated beats real+classic; at 50 per class it does not (there even the
pseudo-labelled images themselves add nothing to real+classic, and the samples only dilute the real ones).

The test split is never used. `genzoo augment --from-unlabelled cvae` runs this from the command line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.apps.augment_classifier import AugmentSettings, labelled_indices, train_classifier
from genzoo.engine import rng
from genzoo.errors import GenzooError
from genzoo.protocols import ClassConditional
from genzoo.registry import model_entry, models_that


@dataclass
class UnlabelledSettings:
    model: str = "cvae"
    steps: int = 1500
    batch_size: int = 64
    label_confidence: float = 0.9  # teacher probability a pseudo-label needs to be trained on
    sample_confidence: float = 0.0  # > 0: keep only samples the teacher gives their class this probability
    oversample: int = 4  # with sample_confidence > 0: draws per sample kept, at most
    curve_every: int = 0  # > 0: record the samples' teacher agreement every this many generator steps
    options: dict[str, Any] = field(default_factory=dict)  # config overrides of the generator


@dataclass
class FromUnlabelled:
    """What `generator_from_unlabelled` built, and how: the report goes into results files as it is."""

    model: Any
    teacher: nn.Module
    pseudo: tuple[Tensor, Tensor]  # the pseudo-labelled images and their labels (self-training's data)
    report: dict[str, Any]


@torch.no_grad()
def probabilities(net: nn.Module, x: Tensor) -> Tensor:
    return torch.cat([torch.softmax(net(c).float(), 1) for c in x.split(1000)])


def pseudo_label(teacher: nn.Module, images: Tensor, min_confidence: float) -> tuple[Tensor, Tensor]:
    """(mask of the images the teacher is confident about, the teacher's label of every image)."""
    confidence, labels = probabilities(teacher, images).max(1)
    return confidence >= min_confidence, labels


class AgreementCurve:
    """`fit(make_evaluator=...)` hook: how often the teacher agrees with the generator's labels, against time.

    Agreement (the arg-max of the teacher is the class the sample was drawn for) is a cheap stand-in for the
    classification accuracy score, measured on a few hundred samples with isolated randomness.
    """

    def __init__(self, teacher: nn.Module, num_classes: int, n: int = 500) -> None:
        self.teacher, self.num_classes, self.n = teacher, num_classes, n
        self.start = time.perf_counter()
        self.points: list[dict[str, float]] = []

    def __call__(self, model: Any, step: int) -> dict[str, float]:
        labels = torch.arange(self.n) % self.num_classes
        was_training = model.training
        with rng.isolated(), torch.no_grad():
            torch.manual_seed(0)
            model.eval()
            x = model.sample(self.n, labels=labels).float().cpu().clamp(0, 1)
        model.train(was_training)
        agree = float((probabilities(self.teacher, x).argmax(1) == labels).float().mean())
        point = {"step": step, "seconds": time.perf_counter() - self.start, "teacher_agreement": agree}
        self.points.append(point)
        return {"teacher_agreement": agree}


def generator_from_unlabelled(train: Any, settings: AugmentSettings, unlabelled: UnlabelledSettings) -> FromUnlabelled:
    """Teacher, pseudo-labels and a class-conditional generator, from the training split alone.

    The labelled images are `labelled_indices(train.labels, settings.per_class, seed=0)`, the ones every
    augment system uses; every other training image counts as unlabelled (its label, where the data has one,
    is read only to report the pseudo-labels' accuracy).
    """
    import genzoo as gz
    from genzoo.data.images import ImageDataset

    if not 0.0 <= unlabelled.label_confidence < 1.0 or not 0.0 <= unlabelled.sample_confidence < 1.0:
        raise GenzooError("--label-confidence and --sample-confidence must be in [0, 1)")
    if unlabelled.steps < 1 or unlabelled.oversample < 1:
        raise GenzooError("--generator-steps and the oversampling factor must be at least 1")
    if ClassConditional not in model_entry(unlabelled.model).capabilities:
        raise GenzooError(
            f"--from-unlabelled needs a class-conditional model ({', '.join(models_that(ClassConditional))}), "
            f"not {unlabelled.model!r}"
        )
    t0 = time.perf_counter()
    info, k = train.info, train.info.num_classes
    idx = labelled_indices(train.labels, settings.per_class, seed=0)
    real_x, real_y = train.images[idx], train.labels[idx]
    teacher = train_classifier(real_x, real_y, k, settings, seed=0, augment=True)
    rest = torch.ones(len(train.images), dtype=torch.bool)
    rest[idx] = False
    if not rest.any():
        raise GenzooError("every training image is labelled: none is left to pseudo-label")
    unl_x, unl_y = train.images[rest], train.labels[rest]
    keep, pseudo = pseudo_label(teacher, unl_x, unlabelled.label_confidence)
    known = unl_y >= 0
    report: dict[str, Any] = {
        "unlabelled": int(rest.sum()),
        "pseudo_labelled": int(keep.sum()),
        "pseudo_label_accuracy": (
            float((pseudo[keep & known] == unl_y[keep & known]).float().mean()) if (keep & known).any() else None
        ),
        "label_confidence": unlabelled.label_confidence,
    }
    data = ImageDataset(torch.cat([real_x, unl_x[keep]]), torch.cat([real_y, pseudo[keep]]), info)
    torch.manual_seed(0)
    model = gz.create(unlabelled.model, data=data, **unlabelled.options)
    curve = AgreementCurve(teacher, k)
    t1 = time.perf_counter()
    gz.fit(
        model,
        data,
        max_steps=unlabelled.steps,
        batch_size=unlabelled.batch_size,
        progress=False,
        loggers=(),
        eval_every=unlabelled.curve_every or None,
        make_evaluator=(lambda *_: curve) if unlabelled.curve_every else None,
    )
    report.update(
        generator=unlabelled.model,
        generator_steps=unlabelled.steps,
        generator_batch_size=unlabelled.batch_size,
        generator_seconds=time.perf_counter() - t1,
        total_seconds=time.perf_counter() - t0,
        curve=curve.points,
    )
    return FromUnlabelled(model.eval(), teacher, (unl_x[keep], pseudo[keep]), report)


@torch.no_grad()
def generated_samples(
    model: Any,
    teacher: nn.Module,
    num_classes: int,
    per_class: int,
    min_confidence: float,
    oversample: int = 4,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """`per_class` samples of each class; with `min_confidence` > 0, only those the teacher assigns to their
    class with at least that probability: the most confident of `oversample * per_class` draws (at least one
    per class)."""
    if min_confidence <= 0:
        oversample = 1
    torch.manual_seed(seed)
    model.eval()
    xs, ys = [], []
    for c in range(num_classes):
        labels = torch.full((oversample * per_class,), c)
        x = torch.cat([model.sample(len(ch), labels=ch).float().cpu().clamp(0, 1) for ch in labels.split(500)])
        p = probabilities(teacher, x)[:, c]
        order = p.argsort(descending=True)[:per_class]
        chosen = order[p[order] >= min_confidence]
        chosen = chosen if len(chosen) else order[:1]
        xs.append(x[chosen])
        ys.append(labels[chosen])
    return torch.cat(xs), torch.cat(ys)
