"""VAE on mnist5k, genzoo vs pythae, side by side with the same encoder/decoder.

Writes benchmarks/results/vae.json: train_images_per_s (interleaved repeats, medians), test NLL (IWAE,
k=100, each library's own estimator) and classifier-FID of 1000 samples after the same number of steps.
pythae runs in its own venv (benchmarks/_anchors.py) because it pins the `dataclasses` backport.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _anchors import anchor_python  # noqa: E402
from common import RESULTS, Results, interleaved_medians  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.hardware import cpu_has_fast_bf16  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

LATENT, HIDDEN, BATCH, LR = 16, 32, 128, 1e-3
TIME_EPOCHS, FULL_EPOCHS = 1, 8
PYTHAE = ["pythae==0.1.2", "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "cloudpickle"]


def genzoo_run(epochs: float, precision: str = "32-true") -> tuple[torch.nn.Module, float, int]:
    train = gz.data.load("mnist5k", split="train")
    model = gz.create("vae", data=train, latent_dim=LATENT, hidden=HIDDEN)
    steps = int(epochs * math.ceil(len(train) / BATCH))
    t = time.perf_counter()
    gz.fit(model, train, max_steps=steps, batch_size=BATCH, lr=LR, grad_clip=None, precision=precision,
           progress=False, seed=0)
    return model, time.perf_counter() - t, steps


def pythae_run(py: Path, mode: str, epochs: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False, dir=RESULTS) as f:
        out = f.name
    script = str(Path(__file__).with_name("_vae_pythae.py"))
    subprocess.run([str(py), script, mode, str(epochs), out, "fused"], check=True)  # the same fused Adam as genzoo
    result = json.loads(Path(out).read_text())
    Path(out).unlink()
    if mode == "full":
        result["samples"] = np.load(out.replace(".json", "_samples.npy"))
        Path(out.replace(".json", "_samples.npy")).unlink()
    return result


def main() -> None:
    import lightning  # noqa: F401 - imported before any timer, as pythae's imports are in its worker

    res = Results("vae")
    py = anchor_python("pythae", PYTHAE)
    task = "mnist5k-28px"

    def g() -> float:
        _, s, steps = genzoo_run(TIME_EPOCHS)
        return steps * BATCH / s

    def p() -> float:
        return pythae_run(py, "time", TIME_EPOCHS)["images_per_s"]

    speeds = interleaved_medians({"genzoo": g, "pythae": p}, repeats=5)
    budget = (f"{TIME_EPOCHS} epoch(s) ({TIME_EPOCHS * 32} steps), batch {BATCH}, fp32, fused Adam lr {LR} on both "
              f"sides, genzoo through gz.fit, {torch.get_num_threads()} thread(s), median of 5 interleaved runs")
    for system, v in speeds.items():
        res.add(task, system, "train_images_per_s", v, True, budget)
    res.add(task, "genzoo", "speedup_vs_pythae", speeds["genzoo"] / speeds["pythae"], True, budget)
    _, s, steps = genzoo_run(0.35, precision="bf16-mixed")
    res.add(task, "genzoo", "train_images_per_s_bf16", steps * BATCH / s, True,
            f"{steps} steps, bf16-mixed (pythae has no CPU bf16 path); this CPU has fast bf16: {cpu_has_fast_bf16()}")

    test = gz.data.load("mnist5k", split="test")
    train = gz.data.load("mnist5k", split="train")
    budget = f"{FULL_EPOCHS} epochs ({FULL_EPOCHS * 32} steps), batch {BATCH}, lr {LR}, fp32, same encoder/decoder"
    model, _, _ = genzoo_run(FULL_EPOCHS)
    torch.manual_seed(0)
    nll = -float(torch.cat([model.log_prob(test.images[i : i + 100], k=100) for i in range(0, 1000, 100)]).mean())
    torch.manual_seed(0)
    ours = model.sample(1000)
    anchor = pythae_run(py, "full", FULL_EPOCHS)
    theirs = torch.from_numpy(anchor["samples"]).float()
    res.add(task, "genzoo", "nll_nats", nll, False, budget + ", IWAE k=100 (genzoo estimator)")
    res.add(task, "pythae", "nll_nats", anchor["nll_nats"], False, budget + ", IS k=100 (pythae get_nll)")
    for system, samples in (("genzoo", ours), ("pythae", theirs)):
        m = sample_metrics(test.images, samples, "mnist5k", train, test, which=("fid",))
        res.add(task, system, "fid_classifier", m["fid_classifier"], False, budget + ", 1000 samples vs test")
        save_grid(samples[:64], RESULTS / f"vae_{system}_samples.png", nrow=8, scale=2)


if __name__ == "__main__":
    main()
