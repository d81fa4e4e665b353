"""Exact-likelihood image models on mnist5k under a fixed CPU budget, with learning curves and baselines.

bits/dim (8-bit pixels; flows: the uniform-dequantisation bound, which counts the logit map's Jacobian and
the [0, 255] -> [0, 1] scaling) for RealNVP, Glow and Gated PixelCNN, and the dynamically binarised NLL in
nats for PixelCNN (Bernoulli pixels; the test images are binarised once with a fixed seed).

Recipe for 4,000 images on one thread (each model's `image_defaults` hold its architecture, so
`genzoo.create(name, data=mnist5k)` builds what is measured here): the last 500 training images are a
validation split; Adam with a short warm-up and a cosine decay over the wall-clock budget, gradient-norm
clip 1, batch 32; the test figure is that of the weight-EMA copy at its best validation point (early stopping
on the validation split; where the validation mean jumps to over twice its best, the row's
`validation_outliers` lists [seconds, the 5 worst validation images' indices, their values]). Each row carries
its learning curve: [training seconds, test, validation, running training loss] every budget/6 s (evaluation
time is not counted), so the train-validation gap and the slope at the end of the budget are visible.

Baselines beside them: a per-pixel-position histogram of the 256 levels (8-bit) and a per-position
Bernoulli (binarised), both fitted on the same 3,500 training images. Published context, not like for like
(60,000 images, GPU-days): ~1.05 bits/dim for Glow/RealNVP on MNIST, 81.3 nats for PixelCNN binarised.
Samples: flows at temperature 0.7 (as the Glow paper shows them), pixel models at temperature 1, unless
--temperatures names others (one grid each; a row's `samples` maps temperature to grid).

    PYTHONPATH=src python benchmarks/pixelcnn.py [--models glow,pixelcnn] [--seconds 180] [--append]

A run with --append keeps the rows of other budgets, so one JSON holds the same recipe at several budgets; the
sample grid of a model is that of its latest run (the row that names it).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.optim import adam  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

#: per model: learning rate, EMA decay, share of --seconds it trains for; OPTIONS: beyond `image_defaults`
TRAINING = {
    "glow": dict(lr=1e-3, ema=0.998, share=1.1),
    "pixelcnn": dict(lr=2e-3, ema=0.998, share=0.9),
    "gated_pixelcnn": dict(lr=2e-3, ema=0.998, share=1.2),
    "realnvp": dict(lr=1e-3, ema=0.998, share=0.4),
}
OPTIONS = {"pixelcnn": {"likelihood": "bernoulli"}}
BATCH, VAL, WARMUP, CURVE_POINTS = 32, 500, 100, 6
PUBLISHED = {"flow": "~1.05 bits/dim (Glow/RealNVP papers, full MNIST)", "pixelcnn": "81.3 nats (PixelCNN, full MNIST)"}


def binarised(model) -> bool:
    return getattr(model.config, "likelihood", "") == "bernoulli"


@torch.no_grad()
def per_image(model, images: torch.Tensor) -> torch.Tensor:
    """Each image's bits/dim (8-bit) or nats (binarised)."""
    nll = -torch.cat([model.log_prob(b) for b in images.split(250)]).double()
    return nll if binarised(model) else nll / (images[0].numel() * math.log(2))


def score(model, images: torch.Tensor) -> float:
    """Test figure: the mean of `per_image`."""
    return float(per_image(model, images).mean())


def train_with_curve(
    model, train, val, test, seconds: float, lr: float, ema_decay: float, seed: int = 0, bf16: bool = False
) -> tuple:
    """Train for `seconds` (evaluation excluded); returns (best EMA model, steps, curve, best point).

    `bf16`: training steps under bf16 autocast with channels-last weights (the row's step count shows the
    gain); the weights, the EMA and every evaluation stay fp32.
    """
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    opt = adam(model.parameters(), lr=lr)
    ema = copy.deepcopy(model).eval()
    g = torch.Generator().manual_seed(seed)
    steps, spent, next_eval, running = 0, 0.0, 0.0, None
    curve: list[list[float]] = []
    best = (math.inf, None, None)  # (val, test, state)
    outliers: list[list] = []  # where the validation mean jumps: which images, and their values

    def evaluate() -> None:
        nonlocal best
        values = per_image(ema, val)
        v, t = float(values.mean()), score(ema, test)
        curve.append([round(spent, 1), round(t, 4), round(v, 4), round(running or math.nan, 4)])
        if v > 2 * best[0]:
            top = values.topk(5)
            outliers.append([round(spent, 1), top.indices.tolist(), [float(f"{x:.4g}") for x in top.values]])
        if v < best[0]:
            best = (v, t, copy.deepcopy(ema.state_dict()))

    model.train()
    while spent < seconds:
        if spent >= next_eval:
            evaluate()
            next_eval += seconds / CURVE_POINTS
        start = time.perf_counter()
        frac = min(spent / seconds, 1.0)
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (steps + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = torch.randint(0, len(train.images), (BATCH,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model.loss((train.images[idx], train.labels[idx]))
        opt.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + steps) / (10 + steps))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
            for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
                be.copy_(bm)
        value = float((out["nll"] if binarised(model) else out["bits_per_dim"]).detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        steps += 1
        spent += time.perf_counter() - start
    evaluate()
    ema.load_state_dict(best[2])
    return ema, steps, curve, {"val": best[0], "test": best[1], "outliers": outliers}


class Split:
    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels


def level_histogram(images: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """(pixels, levels) probabilities of each intensity level at each pixel position, add-0.1 smoothed."""
    k = torch.round(images * (levels - 1)).long().flatten(1)
    counts = torch.zeros(k.shape[1], levels, dtype=torch.float64)
    counts.scatter_add_(1, k.T.contiguous(), torch.ones(k.shape[1], len(k), dtype=torch.float64))
    return (counts + 0.1) / (counts + 0.1).sum(1, keepdim=True)


def histogram_bits(train: torch.Tensor, test: torch.Tensor, levels: int = 256) -> float:
    """Test bits/dim of the per-position histogram of the training images: independent pixels, the floor."""
    probs = level_histogram(train, levels)
    k = torch.round(test * (levels - 1)).long().flatten(1)
    return float(-probs.gather(1, k.T.contiguous()).log2().mean())


def baselines(res: Results, train: Split, test: torch.Tensor, test_binary: torch.Tensor) -> None:
    """Per-position histogram (8-bit) and per-position Bernoulli (binarised)."""
    bits = histogram_bits(train.images, test)
    fitted = f"counts of the {len(train.images)} training images (no validation split needed)"
    res.add("mnist5k", "per-pixel-histogram", "bits_per_dim", bits, False, fitted)
    p = train.images.flatten(1).double().mean(0).clamp(1e-3, 1 - 1e-3)  # E[bernoulli(x)] = x
    b = test_binary.flatten(1).double()
    nats = float(-(b * p.log() + (1 - b) * (1 - p).log()).sum(1).mean())
    res.add("mnist5k-binarised", "per-pixel-bernoulli", "nll_nats", nats, False, fitted)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180.0, help="training budget of a share-1 model")
    ap.add_argument("--name", default="pixelcnn", help="results file name")
    ap.add_argument("--models", default="glow,pixelcnn,gated_pixelcnn,realnvp")
    ap.add_argument("--samples", type=int, default=16, help="sample grid size (pixel models: slow on CPU)")
    ap.add_argument("--append", action="store_true", help="keep every row but those of the same model and budget")
    ap.add_argument("-o", dest="options", action="append", default=[], help="KEY=VALUE config override")
    ap.add_argument("--seed", type=int, default=0, help="weights and batch order; rows of seed > 0 say it")
    ap.add_argument("--precision", choices=("32", "bf16"), default="32", help="training steps (evaluation: fp32)")
    ap.add_argument("--temperatures", default="", help="comma list: one sample grid per temperature")
    ap.add_argument("--save", default="", help="folder: the best EMA model of each run is saved there")
    ap.add_argument("--smoke", action="store_true", help="tiny models, 64 test images, 1 s: that the script runs")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the shared machine: one thread per run
    res = Results(args.name, smoke=args.smoke)
    if args.smoke:
        args.seconds, args.samples = 1.0, 4
    models = args.models.split(",")
    extra = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.options)}
    tag = "".join(f"_{k}{v}" for k, v in extra.items())  # names the rows and grids of a run with overrides
    tag += f"_seed{args.seed}" if args.seed else ""
    tag += "_bf16" if args.precision == "bf16" else ""
    if args.append and (RESULTS / f"{res.name}.json").is_file():
        rows = json.loads((RESULTS / f"{res.name}.json").read_text())["rows"]
        redo = {(f"genzoo-{m}{tag}", round(args.seconds * TRAINING[m]["share"])) for m in models}
        baseline = {"per-pixel-histogram", "per-pixel-bernoulli"}
        res.rows = [
            r for r in rows if r["system"] not in baseline and (r["system"], r["budget"].get("seconds")) not in redo
        ]
    full, test_set = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    if args.smoke:
        test_set = Split(test_set.images[:64], test_set.labels[:64])
    train = Split(full.images[:-VAL], full.labels[:-VAL])
    g = torch.Generator().manual_seed(0)
    val_images = full.images[-VAL:][: 64 if args.smoke else VAL]
    val_binary = torch.bernoulli(val_images, generator=g)
    test_binary = torch.bernoulli(test_set.images, generator=g)
    baselines(res, train, test_set.images, test_binary)
    for name in models:
        torch.manual_seed(args.seed)
        tiny = {"channels": 8, "num_layers": 1} if args.smoke else {}
        model = gz.create(name, data=full, **{**OPTIONS.get(name, {}), **extra, **tiny})
        spec = TRAINING[name]
        seconds = args.seconds * spec["share"]
        bern = binarised(model)
        val, test = (val_binary, test_binary) if bern else (val_images, test_set.images)
        ema, steps, curve, best = train_with_curve(
            model, train, val, test, seconds, spec["lr"], spec["ema"], args.seed, args.precision == "bf16"
        )
        ema = ema.to(memory_format=torch.contiguous_format)
        if args.save:
            gz.save(ema, str(Path(args.save) / f"{name}{tag}"))
        is_pixel = name.endswith("pixelcnn")
        temperatures = [float(t) for t in args.temperatures.split(",") if t] or [1.0 if is_pixel else 0.7]
        suffix = {t: f"_T{t:g}" if args.temperatures else "" for t in temperatures}
        grids = {t: f"{args.name}_{name}{tag}{suffix[t]}.png" for t in temperatures}
        budget = {
            "steps": steps,
            "seconds": round(seconds),
            "threads": 1,
            "precision": "bf16-mixed (training steps; evaluation fp32)" if args.precision == "bf16" else "fp32",
            "machine": machine(),
            "batch": BATCH,
            "data": f"mnist5k: {len(train.images)} train, {len(val)} validation (early stopping), {len(test)} test",
        }
        fields = (
            "channels",
            "num_layers",
            "kernel",
            "levels",
            "likelihood",
            "dropout",
            "augment_shift",
            "split_prior",
            "coupling_scale",
            "dequantization",
        )
        config = {f: getattr(model.config, f) for f in fields if hasattr(model.config, f)}
        res.add(
            "mnist5k-binarised" if bern else "mnist5k",
            f"genzoo-{name}{tag}",
            "nll_nats" if bern else "bits_per_dim",
            best["test"],
            False,
            budget,
            params=sum(p.numel() for p in model.parameters()),
            config=config,
            training={k: v for k, v in spec.items() if k != "share"} | {"warmup": WARMUP, "schedule": "cosine"},
            best_validation=best["val"],
            validation_outliers=best["outliers"] or None,
            curve_columns=["train_seconds", "test", "validation", "running_train_loss"],
            curve=curve,
            published_reference=PUBLISHED["pixelcnn" if bern else "flow"],
            samples={f"{t:g}": file for t, file in grids.items()} if args.samples else None,
        )
        for t, file in grids.items() if args.samples else ():
            torch.manual_seed(0)
            grid = ema.sample(args.samples, temperature=t)
            save_grid(grid.cpu(), res.file(file), nrow=int(math.sqrt(args.samples)), scale=2)


if __name__ == "__main__":
    main()
