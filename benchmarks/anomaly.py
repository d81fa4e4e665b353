"""Anomaly detection AUROC for every family that can score examples, on the same splits.

Splits: mnist5k one-class-out (train on the other nine digits, detect digit k in the test split) and
breast_cancer (train on benign tumours, detect malignant ones). Each model trains on 90% of the normal
training data for the same wall-clock budget; the other 10% sets the threshold at a 5% false-positive
rate. Scores: -log p(x) (flows, PixelCNN, the VAE's importance-weighted bound) or the VAE's
reconstruction error. Rows: AUROC, plus AUPRC and the TPR/FPR at the threshold as extra fields.

    PYTHONPATH=src python benchmarks/anomaly.py [--seconds 30] [--digits 0,7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps import anomaly  # noqa: E402

IMAGE_MODELS = {
    "realnvp": ({"num_layers": 2, "channels": 32, "levels": 2}, "log_prob", {}),
    "pixelcnn": ({"channels": 32, "num_layers": 3, "likelihood": "bernoulli"}, "log_prob", {}),
    "vae": ({"latent_dim": 16, "hidden": 32}, "log_prob", {"k": 20}),
    "vae-recon": ({"latent_dim": 16, "hidden": 32}, "recon", {}),
}
TABLE_MODELS = {
    "maf": {"num_layers": 4, "hidden": (64, 64)},
    "realnvp": {"num_layers": 4, "hidden": (64, 64)},
    "nsf": {"num_layers": 4, "hidden": (64, 64)},
}


def train_for(model, x: torch.Tensor, seconds: float, batch: int = 64) -> int:
    model.train()
    opt = model.optimizers_for(getattr(model, "default_lr", 1e-3))[0]
    g = torch.Generator().manual_seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        idx = torch.randint(0, len(x), (batch,), generator=g)
        loss = model.loss((x[idx], torch.full((batch,), -1)))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    model.eval()
    return steps


def tensor_of(data) -> torch.Tensor:
    return data.images if hasattr(data, "images") else data.x


def evaluate(
    res: Results,
    task: str,
    name: str,
    model,
    method: str,
    kwargs: dict,
    calib,
    test,
    flags,
    steps: int,
    seconds: float,
) -> None:
    det = anomaly.fit_detector(model, tensor_of(calib), 0.05, method, **kwargs)
    torch.manual_seed(0)
    s = anomaly.scores(model, tensor_of(test), method, **kwargs)
    r = anomaly.report(s, flags, det.threshold)
    budget = f"{seconds:.0f} s training (1 thread), {steps} steps, batch 64; threshold: 5% FPR on normals"
    res.add(
        task,
        f"genzoo-{name}",
        "auroc",
        r["auroc"],
        True,
        budget,
        method=method,
        auprc=round(r["auprc"], 4),
        tpr_at_threshold=round(r["tpr_at_threshold"], 4),
        fpr_at_threshold=round(r["fpr_at_threshold"], 4),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--digits", default="0,7")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results("anomaly")

    train, test = gz.data.load("breast_cancer"), gz.data.load("breast_cancer", split="test")
    normal, _ = anomaly.split_normal(train, (0,))
    fit_part, calib = anomaly.calibration_split(normal)
    flags = anomaly.split_normal(test, (0,))[1]
    for name, cfg in TABLE_MODELS.items():
        torch.manual_seed(0)
        model = gz.create(name, data=train, **cfg)
        steps = train_for(model, fit_part.x, args.seconds / 2)
        evaluate(
            res,
            "breast_cancer-malignant",
            name,
            model,
            "log_prob",
            {},
            calib,
            test,
            flags,
            steps,
            args.seconds / 2,
        )

    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    for k in (int(d) for d in args.digits.split(",")):
        normal, _ = anomaly.split_normal(train, (k,))
        fit_part, calib = anomaly.calibration_split(normal)
        flags = anomaly.split_normal(test, (k,))[1]
        vae = None
        for name, (cfg, method, kwargs) in IMAGE_MODELS.items():
            torch.manual_seed(0)
            if name == "vae-recon" and vae is not None:  # same trained VAE, scored by reconstruction error
                model, steps = vae
            else:
                model = gz.create(name, data=train, **cfg)
                steps = train_for(model, fit_part.images, args.seconds)
                if name == "vae":
                    vae = (model, steps)
            evaluate(
                res,
                f"mnist5k-digit{k}-out",
                name,
                model,
                method,
                kwargs,
                calib,
                test,
                flags,
                steps,
                args.seconds,
            )


if __name__ == "__main__":
    main()
