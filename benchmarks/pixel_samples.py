"""Do the likelihood models' samples read as digits? Measured, not eyeballed, on saved mnist5k models.

A good bits/dim does not promise good samples (a PixelCNN with a small receptive field scores well and
draws strokes, not digits), so this scores samples with the mnist5k classifier that classifier-FID uses
(`genzoo.metrics.features`: a small CNN trained on the labelled training split):

- `precision` (the headline; Kynkaanniemi et al. 2019, k = 3): the share of samples whose features fall
  inside the k-NN balls of real test digits' features, i.e. samples that look like some real digit;
  `recall` the converse (real digits the samples cover), classifier-FID beside them. The classifier's own
  confidence is no measure: it gives independent-pixel noise one class at probability 1;
- `class_coverage`: the entropy of the classes it predicts, over log 10 (1: all ten digits equally, 0: one
  digit only), so a model drawing only ones does not look good;
- `nearest_train_ratio`: mean L2 distance of a sample to its nearest training image, over the same for the
  test images (near 1: as far from the training set as new digits are; near 0: copies).

Rows beside the models, at the same sample count: the test images themselves (the ceiling) and samples of
the per-pixel-position histogram fitted on the training images (independent pixels: the trivial floor).
The models come from `benchmarks/pixelcnn.py --save DIR` (their rows there hold bits/dim and budgets):

    PYTHONPATH=src python benchmarks/pixel_samples.py --models DIR/glow@0.5/0.7,DIR/gated_pixelcnn... [--n 100]
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
from pixelcnn import level_histogram  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics.features import feature_net_for  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402


@torch.no_grad()
def readability(images: torch.Tensor, net, train: torch.Tensor) -> dict[str, float]:
    label = net.logits(images).argmax(1)
    share = torch.bincount(label, minlength=10).double() / len(label)
    entropy = float(-(share[share > 0] * share[share > 0].log()).sum()) / math.log(10)
    nearest = torch.cdist(images.flatten(1), train.flatten(1)).min(1).values.mean()
    return {"class_coverage": entropy, "mean_nearest_train_l2": float(nearest)}


def histogram_samples(train: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Independent pixels from the per-position histogram that is pixelcnn.py's bits/dim baseline."""
    probs = level_histogram(train).float()
    draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (pixels, n)
    return (draws.T.float() / 255).view(n, *train.shape[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="", help="comma list of saved model folders, each FOLDER[@T1/T2...] "
                    "(sampling temperatures; default 1 for pixel models, 0.7 for flows)")
    ap.add_argument("--n", type=int, default=100, help="samples per row (pixel models sample 784 steps each)")
    ap.add_argument("--name", default="pixel_samples")
    ap.add_argument("--append", action="store_true", help="keep the rows of the models not sampled in this run")
    ap.add_argument("--smoke", action="store_true", help="no models, 16 images: that the script runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results(args.name, smoke=args.smoke)
    if args.append and (RESULTS / f"{res.name}.json").is_file():
        rows = json.loads((RESULTS / f"{res.name}.json").read_text())["rows"]
        models = {Path(spec.partition("@")[0]).name: spec.partition("@")[2] for spec in args.models.split(",") if spec}
        # references are redone, and a model's rows at the temperatures it is sampled at (all, if none are named)
        def redone(r: dict) -> bool:
            temps = models.get(r["model"])
            return temps is not None and (not temps or f"{r['temperature']:g}" in temps.split("/"))

        res.rows = [r for r in rows if r.get("model") and not redone(r)]
    n = 16 if args.smoke else args.n
    full, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    train = full.images[:-500]  # the training split of benchmarks/pixelcnn.py (the last 500 validate)
    net = feature_net_for("mnist5k", full, test).eval()
    g = torch.Generator().manual_seed(0)
    real = test.images[torch.randperm(len(test.images), generator=g)[:n]]
    reference = test.images[torch.randperm(len(test.images), generator=g)[:n]]  # FID against other test images
    test_nearest = readability(real, net, train)["mean_nearest_train_l2"]

    def add(system: str, images: torch.Tensor, seconds: float, **extra) -> None:
        scores = readability(images, net, train)
        scores["nearest_train_ratio"] = scores.pop("mean_nearest_train_l2") / test_nearest
        quality = sample_metrics(reference, images, "mnist5k", full, test, which=("fid", "precision", "recall"))
        budget = f"{n} samples, {seconds:.0f} s to sample on 1 thread" if seconds else f"{n} images"
        res.add("mnist5k-samples", system, "precision", quality.pop("precision"), True, budget,
                **quality, **scores, **extra)

    add("test-images", real, 0.0, note="the ceiling: held-out digits, scored like samples")
    add("per-pixel-histogram", histogram_samples(train, n, g), 0.0, note="independent pixels: the floor")
    for spec in [m for m in args.models.split(",") if m]:
        folder, _, temperatures = spec.partition("@")
        model = gz.load(folder).eval()
        is_pixel = model.model_name.endswith("pixelcnn")
        temps = [float(t) for t in temperatures.split("/") if t] or [1.0 if is_pixel else 0.7]
        for t in temps:
            torch.manual_seed(0)
            start = time.perf_counter()
            images = model.sample(n, temperature=t).clamp(0, 1)
            seconds = time.perf_counter() - start
            system = f"genzoo-{Path(folder).name}_T{t:g}"
            add(system, images, seconds, temperature=t, model=Path(folder).name)
            save_grid(images[:64].cpu(), res.file(f"{args.name}_{Path(folder).name}_T{t:g}.png"), nrow=8, scale=2)


if __name__ == "__main__":
    main()
