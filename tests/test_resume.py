"""Kill a run with SIGKILL at a random step inside an epoch, resume it, and get the uninterrupted run's
weights, EMA and optimizer state bit for bit: for a VAE (engine EMA), a GAN (manual optimisation, its own
generator EMA) and a flow."""

import multiprocessing
import os
import random
import signal

import numpy as np
import pytest
import torch
from lightning.fabric import Fabric  # noqa: F401 - imported before the fork, so the child does not pay again

import genzoo as gz
from genzoo.engine.fit import CKPT_DIR, LAST
from genzoo.engine.safe_checkpoint import load_state

BATCH, EVERY = 32, 5
CASES = {
    # name: (dataset, model options, fit options); a step is one batch for every model, GANs included
    "vae": ("digits", dict(latent_dim=4, hidden=8, downsamples=1), dict(ema=0.9, precision="bf16-mixed")),
    "dcgan": ("digits", dict(latent_dim=8, g_width=8, d_width=8, upsamples=1), dict(precision="32-true")),
    "maf": ("breast_cancer", dict(num_layers=2, hidden=(16,)), dict(ema=0.95, warmup_steps=10)),
}


def _run(name: str, out, kill_at_call: int | None = None) -> None:
    dataset, options, fit_options = CASES[name]
    data = gz.data.load(dataset, split="train")
    model = gz.create(name, data=data, seed=3, **options)
    if kill_at_call is not None:  # die in the middle of a training step, as a real kill would
        calls = [0]
        method = "manual_step" if model.manual_optimization else "loss"
        original = getattr(model, method)

        def dying(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at_call:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        setattr(model, method, dying)
    steps_per_epoch = len(data) // BATCH
    gz.fit(model, data, max_steps=int(2.5 * steps_per_epoch), batch_size=BATCH, out=out,
           checkpoint_every=EVERY, seed=3, progress=False, log_every=4, **fit_options)


def _equal(a, b, where: str = "") -> None:
    if isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs (max abs diff {(a.double() - b.double()).abs().max()})"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a} != {b}"


@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(name, tmp_path):
    dataset, _, _ = CASES[name]
    steps_per_epoch = len(gz.data.load(dataset, split="train")) // BATCH
    # a random batch in the first 2 epochs whose last checkpoint before it lies inside an epoch
    rand = random.Random()
    while True:
        kill_at = rand.randint(EVERY + 1, 2 * steps_per_epoch)
        last_ckpt = (kill_at - 1) // EVERY * EVERY
        if last_ckpt % steps_per_epoch:
            break
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_run, args=(name, tmp_path / "killed", kill_at))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL, f"child ended with {child.exitcode} (kill at batch {kill_at})"
    saved = load_state(tmp_path / "killed" / CKPT_DIR / LAST)
    assert saved["sampler"]["position"] != 0, "the checkpoint should lie inside an epoch"

    _run(name, tmp_path / "killed")  # resumes from the checkpoint the kill left behind
    _run(name, tmp_path / "straight")
    a = load_state(tmp_path / "killed" / CKPT_DIR / LAST)
    b = load_state(tmp_path / "straight" / CKPT_DIR / LAST)
    assert a["global_step"] == b["global_step"] > saved["global_step"]
    if name != "dcgan":
        assert any(k.startswith("ema.") for k in a["state_dict"])
    else:
        assert any(k.startswith("model.generator_ema.") for k in a["state_dict"])
    note = f" (killed at batch {kill_at}, resumed from step {saved['global_step']})"
    _equal(a["state_dict"], b["state_dict"], "state_dict" + note)
    _equal(a["optimizer_states"], b["optimizer_states"], "optimizer" + note)
    _equal(a["genzoo_rng"], b["genzoo_rng"], "rng" + note)
    final_a, final_b = gz.load(tmp_path / "killed"), gz.load(tmp_path / "straight")
    _equal(final_a.state_dict(), final_b.state_dict(), "model.safetensors" + note)
