"""Exact-likelihood image models on mnist5k under a fixed compute budget.

bits/dim (8-bit pixels; flows: the dequantisation bound, which counts the [0, 255] -> [0, 1] scaling) for
RealNVP, Glow and Gated PixelCNN, and the dynamically binarised NLL in nats for PixelCNN (Bernoulli
pixels; the test images are binarised once with a fixed seed). Every model trains for the same wall-clock
budget with batch 32 and its own optimizer; the number of steps reached is in each row.

Context, not a like-for-like comparison: pytorch-generative reports 81.45 nats for PixelCNN on binarised
MNIST (60,000 training images, many epochs on a GPU); here the training set is the 4,000-image mnist5k
subset and the budget is minutes, so expect a clearly higher NLL.

    PYTHONPATH=src python benchmarks/pixelcnn.py [--seconds 75] [--device cpu] [--name pixelcnn]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

MODELS = {
    "realnvp": dict(num_layers=2, channels=32, levels=2),
    "glow": dict(num_layers=3, channels=32, levels=2),
    "gated_pixelcnn": dict(channels=24, num_layers=4),
    "pixelcnn": dict(channels=16, num_layers=3, likelihood="bernoulli"),
}
PUBLISHED_PIXELCNN_NATS = 81.45  # pytorch-generative, binarised MNIST, full training set


def train_for(model, data, seconds: float, device: str, batch: int = 32) -> int:
    """Train until the wall-clock budget is spent; returns the steps taken."""
    model.to(device).train()
    opt = model.optimizers_for(1e-3)[0]
    g = torch.Generator().manual_seed(0)
    images, labels = data.images, data.labels
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        idx = torch.randint(0, len(images), (batch,), generator=g)
        loss = model.loss((images[idx].to(device), labels[idx].to(device)))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    model.eval()
    return steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="training budget per model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--name", default="pixelcnn", help="results file name")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--pixel-samples", type=int, default=0, help="samples from pixel models (slow on CPU)")
    ap.add_argument("--append", action="store_true", help="keep the rows already in the results file")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)  # shared machine: one thread is much faster for these small models
    res = Results(args.name)
    if args.append and (RESULTS / f"{args.name}.json").is_file():
        redo = set(args.models.split(","))  # rows of the models measured again are replaced
        rows = json.loads((RESULTS / f"{args.name}.json").read_text())["rows"]
        res.rows = [r for r in rows if r["system"] not in redo]
    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = gz.create(name, data=train, **MODELS[name])
        steps = train_for(model, train, args.seconds, args.device)
        params = sum(p.numel() for p in model.parameters())
        budget = (
            f"{args.seconds:.0f} s training on {args.device}, batch 32, {steps} steps; mnist5k (4000 train)"
        )
        extra = {"params": params, "steps": steps, "config": MODELS[name]}
        torch.manual_seed(0)
        if MODELS[name].get("likelihood") == "bernoulli":
            g = torch.Generator().manual_seed(0)
            binary = torch.bernoulli(test.images, generator=g)
            with torch.no_grad():
                nll = float(
                    -torch.cat([model.log_prob(b.to(args.device)).cpu() for b in binary.split(250)])
                    .double()
                    .mean()
                )
            res.add(
                "mnist5k-binarised",
                name,
                "nll_nats",
                nll,
                False,
                budget,
                **extra,
                published_reference=f"{PUBLISHED_PIXELCNN_NATS} nats (pytorch-generative, full MNIST)",
            )
        else:
            out = gz.evaluate(model, test, metrics=["nll"])
            res.add("mnist5k", name, "bits_per_dim", out["bits_per_dim"], False, budget, **extra)
        is_pixel = name.endswith("pixelcnn")
        n = args.pixel_samples if is_pixel else 16
        if n:
            torch.manual_seed(0)
            samples = model.sample(n) if is_pixel else model.sample(n, temperature=0.8)
            save_grid(
                samples.cpu(), RESULTS / f"{args.name}_{name}.png", nrow=int(math.sqrt(n)) or 1, scale=2
            )
        if is_pixel and n:
            # completion: the top half of n test digits is given, the bottom half sampled (3 draws each)
            x = test.images[:n].to(args.device)
            observed = torch.zeros_like(x, dtype=torch.bool)
            observed[:, :, : x.shape[2] // 2] = True
            rows = [x.cpu()] + [model.complete(x, observed).cpu() for _ in range(3)]
            save_grid(torch.cat(rows), RESULTS / f"{args.name}_{name}_completion.png", nrow=n, scale=2)
        model.cpu()


if __name__ == "__main__":
    main()
