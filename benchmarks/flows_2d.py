"""2-D density estimation: every flow on moons, circles and pinwheel; test NLL beside a Gaussian fit, and a
PNG of each learned density next to the data.

    PYTHONPATH=src python benchmarks/flows_2d.py [--steps 600]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

import genzoo as gz  # noqa: E402

SETS = ("moons", "circles", "pinwheel")
MODELS = ("realnvp", "glow", "maf", "nsf")


def train(model, x: torch.Tensor, steps: int) -> None:
    opt = model.optimizers_for(3e-3)[0]
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (256,), generator=g)
        loss = model.loss((x[idx],))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.eval()


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import multivariate_normal

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = Results("flows_2d")
    fig, axes = plt.subplots(len(SETS), len(MODELS) + 1, figsize=(2.2 * (len(MODELS) + 1), 2.2 * len(SETS)))
    budget = f"{args.steps} steps, batch 256, Adam 3e-3 cosine; 6 transforms, MLP (64, 64); 1 thread"
    for r, name in enumerate(SETS):
        tr, te = gz.data.load(name), gz.data.load(name, split="test")
        xt = tr.x.numpy()
        gauss = float(-multivariate_normal(xt.mean(0), np.cov(xt.T)).logpdf(te.x.numpy()).mean())
        res.add(name, "gaussian", "nll_nats", gauss, False, "closed form: training mean and covariance")
        lo, hi = xt.min(0) - 0.5, xt.max(0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
        grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        axes[r, 0].scatter(xt[:1000, 0], xt[:1000, 1], s=1, c="k")
        axes[r, 0].set_title(f"{name} data", fontsize=8)
        for c, model_name in enumerate(MODELS, start=1):
            torch.manual_seed(0)
            model = gz.create(model_name, data=tr, num_layers=6, hidden=(64, 64))
            train(model, tr.x, args.steps)
            nll = float(-model.log_prob(te.x).mean())
            res.add(name, f"genzoo-{model_name}", "nll_nats", nll, False, budget)
            dens = model.log_prob(grid).exp().view(120, 120).numpy()
            axes[r, c].imshow(
                dens, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap="magma", aspect="auto"
            )
            axes[r, c].set_title(f"{model_name}: {nll:.2f} nats", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(RESULTS / "flows_2d.png", dpi=60)


if __name__ == "__main__":
    main()
