"""Anomaly detection: every genzoo score kind beside PyOD (the field's anchor) on the same splits.

Tasks (train on normal training data only; test on the test split, anomalous = the held-out class):
- mnist5k one-class-out, each digit in turn (10 tasks): normal = the other nine digits;
- faces: normal = faces, anomalous = non-faces (scikit-image's LFW subset);
- breast_cancer: normal = benign, anomalous = malignant;
- wine one-class-out (3 cultivars) and digits64 one-class-out (scikit-learn's 8x8 digits as vectors, 10).

genzoo: one model per task (a VAE with a discretised-logistic decoder on images, a MAF on tables) trained
for a fixed number of steps on 90% of the normal training data, plus a background model of the same kind
on perturbed copies of it (Ren et al. 2019) for the likelihood ratio; every score kind the model can give
is computed from that one trained pair. The other 10% sets each detector's threshold at a 5% false-positive
rate. PyOD: IsolationForest, OCSVM, AutoEncoder and DeepSVDD on the same (flattened) training examples.
Rows: AUROC (AUPRC as an extra field) per task and system, then summary rows: the mean over the ten digit
tasks, the worst digit task, and the mean over all tasks. A genzoo system is a score kind (`genzoo-latent` is
what `genzoo anomaly fit` picks with no `--score` for both models). A learning curve (test AUROC against training
wall-clock) of the image model's scores is recorded on two digit tasks.

    PYTHONPATH=src python benchmarks/anomaly.py [--image-steps 600] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps import anomaly, anomaly_scores  # noqa: E402
from genzoo.apps.anomaly_scores import ScoreContext  # noqa: E402

IMAGE_MODEL = ("vae", {"latent_dim": 16, "hidden": 16, "likelihood": "logistic"})
TABLE_MODEL = ("maf", {"num_layers": 4, "hidden": (64, 64)})
CURVE_TASKS = ("mnist5k-digit1-out", "mnist5k-digit7-out")
BATCH = 64


def pyod_methods(dim: int, quick: bool) -> dict[str, Callable[[], Any]]:
    """PyOD's detectors with their defaults, except the epochs of the deep ones (the budget)."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.iforest import IForest
    from pyod.models.ocsvm import OCSVM

    epochs = 1 if quick else 10
    return {
        "iforest": lambda: IForest(random_state=0),
        "ocsvm": lambda: OCSVM(),
        "autoencoder": lambda: AutoEncoder(epoch_num=epochs, verbose=0, random_state=0),
        "deepsvdd": lambda: DeepSVDD(n_features=dim, epochs=epochs, verbose=0, random_state=0),
    }


def tasks(quick: bool) -> list[tuple[str, str, tuple[int, ...]]]:
    """(task name, dataset, anomalous classes)."""
    out = [(f"mnist5k-digit{k}-out", "mnist5k", (k,)) for k in range(10)]
    out += [("faces-nonface", "faces", (0,)), ("breast_cancer-malignant", "breast_cancer", (0,))]
    out += [(f"wine-class{k}-out", "wine", (k,)) for k in range(3)]
    out += [(f"digits64-digit{k}-out", "digits64", (k,)) for k in range(10)]
    return [t for t in out if t[0] in ("mnist5k-digit7-out", "faces-nonface", "wine-class0-out")] if quick else out


def train_steps(model: Any, x: torch.Tensor, steps: int, seed: int = 0,
                every: int = 0, probe: Callable[[int, float], None] | None = None) -> float:
    """Adam at the model's default rate, `steps` minibatches; returns training seconds (probes excluded)."""
    model.train()
    opt = model.optimizers_for(getattr(model, "default_lr", 1e-3))[0]
    g = torch.Generator().manual_seed(seed)
    spent = 0.0
    for step in range(1, steps + 1):
        start = time.perf_counter()
        idx = torch.randint(0, len(x), (BATCH,), generator=g)
        loss = model.loss((x[idx], torch.full((BATCH,), -1)))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        spent += time.perf_counter() - start
        if probe is not None and every and step % every == 0:
            model.eval()
            probe(step, spent)
            model.train()
    model.eval()
    return spent


Tensor = torch.Tensor


def split(dataset: str, anomalous: tuple[int, ...]) -> tuple[Any, Tensor, Tensor, Tensor, Tensor]:
    """(training set, fit examples, calibration examples, test examples, test anomaly flags)."""
    train, test = gz.data.load(dataset), gz.data.load(dataset, split="test")
    normal, _ = anomaly.split_normal(train, anomalous)
    fit_part, calib = anomaly.calibration_split(normal)
    flags = anomaly.split_normal(test, anomalous)[1]
    return train, anomaly.tensor_of(fit_part), anomaly.tensor_of(calib), anomaly.tensor_of(test), flags


def run_genzoo(res: Results, task: str, train: Any, fit_x: torch.Tensor, calib_x: torch.Tensor,
               test_x: torch.Tensor, flags: torch.Tensor, steps: int, curve: bool) -> None:
    images = fit_x.ndim == 4
    name, options = IMAGE_MODEL if images else TABLE_MODEL
    torch.manual_seed(0)
    model = gz.create(name, data=train, **options)
    torch.manual_seed(1)
    background = gz.create(name, data=train, **options)
    kinds = anomaly_scores.available(model, images)
    ctx = ScoreContext(background=background, log_prob_kwargs={"k": 10} if name == "vae" else None)
    points: list[dict[str, Any]] = []

    def probe(step: int, seconds: float) -> None:
        ctx.reference_latents = anomaly_scores.latents(model, fit_x) if "latent" in kinds else None
        point: dict[str, Any] = {"step": step, "train_seconds": round(seconds, 1)}
        for kind in ("latent", "recon", "complexity"):  # the cheap ones and Serra's (ratio: two models)
            if kind in kinds:
                torch.manual_seed(0)
                point[kind] = round(anomaly.report(anomaly_scores.score(kind, model, test_x, ctx), flags)["auroc"], 4)
        points.append(point)

    seconds = train_steps(model, fit_x, steps, every=max(1, steps // 4) if curve else 0,
                          probe=probe if curve else None)
    bg_steps = steps // 2
    bg_seconds = train_steps(background, anomaly_scores.perturb(fit_x), bg_steps, seed=1)
    ctx.reference_latents = anomaly_scores.latents(model, fit_x) if "latent" in kinds else None
    for kind in kinds:
        start = time.perf_counter()
        torch.manual_seed(0)
        threshold = anomaly.threshold_at_fpr(anomaly_scores.score(kind, model, calib_x, ctx), 0.05)
        torch.manual_seed(0)
        r = anomaly.report(anomaly_scores.score(kind, model, test_x, ctx), flags, threshold)
        train_s = seconds + (bg_seconds if kind == "ratio" else 0.0)
        budget = (f"{steps} steps batch {BATCH}" + (f" + background {bg_steps} steps" if kind == "ratio" else "")
                  + f", {train_s:.0f} s training (1 thread); threshold 5% FPR on held-out normals")
        res.add(task, f"genzoo-{kind}", "auroc", r["auroc"], True, budget, model=name, score=kind,
                auprc=round(r["auprc"], 4), tpr_at_threshold=round(r["tpr_at_threshold"], 4),
                fpr_at_threshold=round(r["fpr_at_threshold"], 4), train_seconds=round(train_s, 1),
                score_seconds=round(time.perf_counter() - start, 1), steps=steps)
    if curve:
        res.add(task, f"genzoo-{name}-learning-curve", "auroc", points[-1]["latent"], True,
                f"test AUROC every {max(1, steps // 4)} of {steps} steps against training seconds",
                curve=points)


def run_pyod(res: Results, task: str, fit_x: torch.Tensor, test_x: torch.Tensor, flags: torch.Tensor,
             quick: bool) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    xtr, xte = fit_x.flatten(1).numpy(), test_x.flatten(1).numpy()
    y = flags.numpy()
    for name, make in pyod_methods(xtr.shape[1], quick).items():
        torch.manual_seed(0)
        start = time.perf_counter()
        detector = make()
        detector.fit(xtr)
        s = detector.decision_function(xte)
        seconds = time.perf_counter() - start
        epochs = getattr(detector, "epoch_num", None) or getattr(detector, "epochs", None)
        budget = f"PyOD defaults{f', {epochs} epochs' if epochs else ''}; {seconds:.0f} s fit+score (1 thread)"
        res.add(task, f"pyod-{name}", "auroc", float(roc_auc_score(y, s)), True, budget,
                auprc=round(float(average_precision_score(y, s)), 4), seconds=round(seconds, 1))


def summarise(res: Results) -> None:
    """Mean over the digit tasks, the worst digit task, the mean over all tasks, per system."""
    by: dict[str, dict[str, float]] = {}
    for row in list(res.rows):
        if row["metric"] != "auroc" or "curve" in row:
            continue
        by.setdefault(row["system"], {})[row["task"]] = row["value"]
    all_tasks = {r["task"] for r in res.rows if "curve" not in r}
    for system, per_task in by.items():
        digits = [v for t, v in per_task.items() if t.startswith("mnist5k-digit")]
        if digits:
            res.add("mean-mnist5k-digits", system, "auroc", statistics.mean(digits), True,
                    f"mean over {len(digits)} one-class-out digit tasks")
            res.add("min-mnist5k-digits", system, "auroc", min(digits), True, "worst digit task")
        if set(per_task) >= all_tasks:
            res.add("mean-all-tasks", system, "auroc", statistics.mean(per_task.values()), True,
                    f"mean over all {len(per_task)} tasks")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-steps", type=int, default=600)
    ap.add_argument("--table-steps", type=int, default=600)
    ap.add_argument("--smoke", action="store_true", help="three tasks, a few steps: that the script still runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results("anomaly", smoke=args.smoke)
    image_steps, table_steps = (12, 12) if args.smoke else (args.image_steps, args.table_steps)
    for task, dataset, anomalous in tasks(args.smoke):
        train, fit_x, calib_x, test_x, flags = split(dataset, anomalous)
        steps = image_steps if fit_x.ndim == 4 else table_steps
        run_genzoo(res, task, train, fit_x, calib_x, test_x, flags, steps, task in CURVE_TASKS)
        run_pyod(res, task, fit_x, test_x, flags, args.smoke)
    summarise(res)


if __name__ == "__main__":
    main()
