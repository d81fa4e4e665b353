"""Few-label augmentation benchmark on mnist5k: test accuracy of one small classifier trained on N real images
per class (N = 10, 50, 100) alone, with classic augmentation, and with samples of a cgan / cvae trained on the
same N labelled images per class (no extra labels leak in); mean +- std over seeds. Also the classification
accuracy score (CAS: train on generated images only, test on real).

    PYTHONPATH=src python benchmarks/augment.py [--counts 10 50 100] [--seeds 3]

Writes benchmarks/results/augment.json.
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
from genzoo.apps.augment import AugmentSettings, labelled_subset, run_augment  # noqa: E402
from genzoo.data.images import ImageDataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--classifier-steps", type=int, default=200)
    parser.add_argument("--gan-batches", type=int, default=250)
    parser.add_argument("--vae-steps", type=int, default=500)
    parser.add_argument("--name", default="augment", help="results file name (to run counts in parallel)")
    args = parser.parse_args()
    res = Results(args.name)
    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    for n in args.counts:
        settings = AugmentSettings(per_class=n, seeds=args.seeds, steps=args.classifier_steps,
                                   synthetic_per_class=100)
        x, y = labelled_subset(train.images, train.labels, n, seed=0)  # the same subset run_augment uses
        few = ImageDataset(x, y, train.info)
        t = time.perf_counter()
        torch.manual_seed(0)
        cgan = gz.create("cgan", data=few, latent_dim=64, g_width=32, d_width=32)
        gz.fit(cgan, few, max_steps=args.gan_batches, batch_size=64, progress=False)
        torch.manual_seed(0)
        cvae = gz.create("cvae", data=few, latent_dim=16)
        gz.fit(cvae, few, max_steps=args.vae_steps, batch_size=64, progress=False)
        gen_time = time.perf_counter() - t
        results = run_augment(train, test, {"cgan": cgan, "cvae": cvae}, settings)
        budget = (f"{n} labelled/class; classifier {args.classifier_steps} steps x 64; generators trained "
                  f"on the same {n}/class (cgan {args.gan_batches} batches, cvae {args.vae_steps} steps, "
                  f"{gen_time:.0f} s); 100 samples/class; {args.seeds} seeds; CPU")
        for system, r in results.items():
            if system.startswith("cas:"):
                res.add(f"mnist5k-{n}-per-class", system[4:], "classification_accuracy_score", r["mean"],
                        True, budget + "; trained on generated images only", std=r["std"],
                        per_seed=r["accuracies"])
            else:
                res.add(f"mnist5k-{n}-per-class", system, "accuracy", r["mean"], True, budget, std=r["std"],
                        per_seed=r["accuracies"])


if __name__ == "__main__":
    main()
