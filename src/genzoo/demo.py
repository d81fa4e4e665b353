"""`genzoo demo`: a small VAE on real MNIST digits in about a minute, with pictures and metrics to look at."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch


def run_demo(out: Path, steps: int = 400) -> dict[str, float]:
    import genzoo as gz
    from genzoo.latent import interpolate
    from genzoo.viz import save_grid

    out.mkdir(parents=True, exist_ok=True)
    train = gz.data.load("mnist5k", split="train")
    test = gz.data.load("mnist5k", split="test")
    print(f"genzoo demo: training a VAE on {len(train)} MNIST digits for {steps} steps ...")
    t0 = time.perf_counter()
    model = gz.create("vae", data=train, latent_dim=16, hidden=32)
    gz.fit(model, train, max_steps=steps, batch_size=128, lr=2e-3, out=out / "run", sample_every=max(steps // 4, 1))
    train_s = time.perf_counter() - t0

    torch.manual_seed(0)
    save_grid(model.sample(64), out / "samples.png", nrow=8, scale=3)
    pairs = [(test[i][0], test[i + 500][0]) for i in (0, 120, 240)]
    strip = torch.cat([interpolate(model, a, b, steps=10) for a, b in pairs])
    save_grid(strip, out / "interpolation.png", nrow=10, scale=3)
    print("genzoo demo: evaluating (IWAE NLL on the test split, classifier-FID of 1000 samples) ...")
    metrics = gz.evaluate(model, test, metrics=["nll", "fid"], n_samples=1000, k=50)
    metrics["train_seconds"] = train_s
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"genzoo demo: done in {time.perf_counter() - t0:.0f} s")
    print(f"  test NLL (IWAE, k=50): {metrics['nll_nats']:.1f} nats   classifier-FID: {metrics['fid_classifier']:.1f}")
    for name in ("samples.png", "interpolation.png", "metrics.json", "run/"):
        print(f"  {out / name}")
    return metrics
