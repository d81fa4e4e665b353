"""Flows side by side with normflows and zuko: tabular density estimation (RealNVP, MAF, NSF).

Same data (standardised with training statistics, fixed train/val/test split), same architecture size
(4 transforms, conditioner MLPs with two hidden layers of 64; parameter counts in each row: equal for
RealNVP and MAF, larger for the anchors' NSF conditioners), same optimiser
(Adam, lr 1e-3, batch 64, gradient-norm clip 1), same step budget, same validation schedule (every 25
steps, stop after 10 validations without improvement) and, for every system, the test NLL of its
best-validation weights: with a few hundred rows all of them overfit long before the budget ends, so a
fixed-step test NLL would mostly measure overfitting. genzoo trains through `genzoo.fit` (Lightning,
`val_data` + `early_stopping`); the anchors through a plain loop doing the same thing.

train_samples_per_s: genzoo through `genzoo.fit` (what users run; `genzoo-bare-loop` is the same model in a
bare loop), the anchors in a bare loop (forward, backward, clip 1, step), every side with the same fused Adam,
the same batches; at least 0.6 s per measurement, interleaved A, B, C, A, B, C, ... with the median of 5
repeats, on one thread (the machine is shared, and small models run fastest single-threaded).

    PYTHONPATH=src python benchmarks/flows.py [--tasks breast_cancer,digits64] [--steps 1500]

A run rewrites only its own tasks' rows in flows.json and keeps the rows of every other task, so
`--tasks digits64 --steps 600` (the budget of the committed digits64 rows: normflows' MAF takes ~0.4 s
a step at 64 dimensions) adds digits64 next to the breast_cancer rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402
from engine import compare, fit_timer, loop_timer, model_step, shuffled, train_step  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.models.autoregressive.common import prepare_input  # noqa: E402
from genzoo.optim import adam  # noqa: E402

LAYERS, HIDDEN, BATCH, LR, VAL_EVERY, PATIENCE = 4, (64, 64), 64, 1e-3, 25, 10


# -- systems: each builds a module and a log_prob(x) -----------------------------------------------------
def genzoo_flow(kind: str, train) -> tuple[nn.Module, Callable]:
    name = {"realnvp": "realnvp", "maf": "maf", "nsf": "nsf"}[kind]
    model = gz.create(name, data=train, num_layers=LAYERS, hidden=HIDDEN)
    return model, lambda x: model._log_density(*prepare_input(model, x))


def normflows_flow(kind: str, dim: int) -> tuple[nn.Module, Callable]:
    import normflows as nf

    flows: list[nn.Module] = []
    for _ in range(LAYERS):
        if kind == "realnvp":
            flows += [
                nf.flows.AffineCouplingBlock(
                    nf.nets.MLP([dim // 2, *HIDDEN, 2 * (dim - dim // 2)], init_zeros=True)
                ),
                nf.flows.Permute(dim, mode="swap"),
            ]
        elif kind == "maf":
            flows += [
                nf.flows.MaskedAffineAutoregressive(
                    dim, HIDDEN[0], num_blocks=len(HIDDEN) - 1, use_residual_blocks=False
                ),
                nf.flows.Permute(dim, mode="swap"),
            ]
        else:
            flows += [
                nf.flows.CoupledRationalQuadraticSpline(
                    dim, num_blocks=1, num_hidden_channels=HIDDEN[0], num_bins=8, tail_bound=3.0
                ),
                nf.flows.Permute(dim, mode="swap"),
            ]
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(dim, trainable=False), flows)
    return model, model.log_prob


def zuko_flow(kind: str, dim: int) -> tuple[nn.Module, Callable]:
    import zuko

    if kind == "realnvp":
        flow = zuko.flows.RealNVP(dim, transforms=LAYERS, hidden_features=HIDDEN)
    elif kind == "maf":
        flow = zuko.flows.MAF(dim, transforms=LAYERS, hidden_features=HIDDEN)
    else:  # coupling NSF, like the other two: passes=2 turns zuko's autoregressive NSF into coupling
        flow = zuko.flows.NSF(dim, transforms=LAYERS, hidden_features=HIDDEN, passes=2, bins=8)
    return flow, lambda x: flow().log_prob(x)


# -- training with best-validation selection (anchors) -----------------------------------------------------
def mean_nll(log_prob: Callable, x: torch.Tensor) -> float:
    with torch.no_grad():
        lp = log_prob(x).double()
    return float(-lp.mean()) if torch.isfinite(lp).all() else math.inf


def train_best_val(
    module: nn.Module, log_prob: Callable, train: torch.Tensor, val: torch.Tensor, steps: int, seed: int = 0
) -> tuple[int, float]:
    """Plain loop: Adam, clip 1, validate every VAL_EVERY steps, keep the best weights, patience PATIENCE."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=LR)
    best, best_state, bad, step = math.inf, copy.deepcopy(module.state_dict()), 0, 0
    while step < steps:
        for idx in torch.randperm(len(train), generator=g).split(BATCH):
            if len(idx) < BATCH:
                continue
            module.train()
            loss = -log_prob(train[idx]).mean()
            opt.zero_grad()
            if torch.isfinite(loss):
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                opt.step()
            step += 1
            if step % VAL_EVERY == 0:
                module.eval()
                v = mean_nll(log_prob, val)
                if v < best:
                    best, best_state, bad = v, copy.deepcopy(module.state_dict()), 0
                else:
                    bad += 1
            if step >= steps or bad >= PATIENCE:
                break
        if bad >= PATIENCE:
            break
    module.load_state_dict(best_state)
    module.eval()
    return step, best


def gaussian_baseline(res: Results, task: str) -> None:
    """Test NLL of one full-covariance Gaussian fitted to the training rows: the bar a flow must clear."""
    import numpy as np
    from scipy.stats import multivariate_normal

    train, test = (gz.data.load(task, split=s).x.double().numpy() for s in ("train", "test"))
    nll = float(-multivariate_normal(train.mean(0), np.cov(train.T)).logpdf(test).mean())
    res.add(
        f"{task}-gaussian", "gaussian", "nll_nats", nll, False, "closed form: training mean and covariance"
    )


def run_task(res: Results, task: str, kind: str, steps: int) -> None:
    train, val, test = (gz.data.load(task, split=s) for s in ("train", "val", "test"))
    dim = train.x.shape[1]
    builders = {
        "genzoo": lambda: genzoo_flow(kind, train),
        "normflows": lambda: normflows_flow(kind, dim),
        "zuko": lambda: zuko_flow(kind, dim),
    }
    budget = (
        f"{steps} steps max, batch {BATCH}, Adam {LR}, best of validations every {VAL_EVERY} steps "
        f"(patience {PATIENCE}); {LAYERS} transforms, ReLU MLP {HIDDEN}; 1 thread; speed: fused Adam on every "
        "side, genzoo through genzoo.fit, anchors in a bare loop, >= 0.6 s per measurement, median of 5 interleaved"
    )

    # throughput: genzoo through gz.fit (and in a bare loop), the anchors in a bare loop, interleaved
    timers = {}
    for system, build in builders.items():
        torch.manual_seed(0)
        module, lp = build()
        module.train()
        if system == "genzoo":
            timers["genzoo"] = fit_timer(module, train, BATCH, "32-true")
            timers["genzoo-bare-loop"] = loop_timer(model_step(module), shuffled(train, BATCH))
        else:
            step = train_step(module, lambda b, lp=lp: -lp(b[0]).mean(), adam(module.parameters(), lr=LR))
            timers[system] = loop_timer(step, shuffled(train, BATCH))
    speeds, _, _ = compare(timers, BATCH, 0.6, 5)

    for system, build in builders.items():
        torch.manual_seed(0)
        module, lp = build()
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
        t0 = time.perf_counter()
        if system == "genzoo":
            with tempfile.TemporaryDirectory() as tmp:
                gz.fit(
                    module,
                    train,
                    max_steps=steps,
                    batch_size=BATCH,
                    lr=LR,
                    val_data=val,
                    val_every=VAL_EVERY,
                    early_stopping=PATIENCE,
                    out=tmp,
                    progress=False,
                    seed=0,
                )
                used = json.loads((Path(tmp) / "config.json").read_text())["trained_steps"]
        else:
            used, _ = train_best_val(module, lp, train.x, val.x, steps)
        wall = time.perf_counter() - t0
        nll = mean_nll(lp, test.x)
        name = f"{task}-{kind}"
        extra = {"params": params, "fit_wall_s": round(wall, 2), "steps_run": used}
        res.add(name, system, "train_samples_per_s", speeds[system], True, budget, **extra)
        if system == "genzoo":
            res.add(name, "genzoo-bare-loop", "train_samples_per_s", speeds["genzoo-bare-loop"], True, budget, **extra)
        res.add(
            name,
            system,
            "nll_nats",
            nll,
            False,
            budget + "; test NLL of the best-validation weights",
            **extra,
        )
    g, others = speeds["genzoo"], {k: v for k, v in speeds.items() if not k.startswith("genzoo")}
    print("  speed ratios genzoo/other: " + ", ".join(f"{k} {g / v:.2f}x" for k, v in others.items()))


def kept_rows(path: Path, tasks: list[str]) -> list[dict]:
    """Rows of an earlier run for tasks not being rerun now (a task's rows are named `<task>-<kind>`)."""
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [r for r in rows if not any(r["task"].startswith(f"{t}-") for t in tasks)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="breast_cancer")
    ap.add_argument("--kinds", default="realnvp,maf,nsf")
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks = args.tasks.split(",")
    res = Results("flows")
    res.rows = kept_rows(RESULTS / "flows.json", tasks)
    for task in tasks:
        gaussian_baseline(res, task)
        for kind in filter(None, args.kinds.split(",")):
            run_task(res, task, kind, args.steps)


if __name__ == "__main__":
    main()
