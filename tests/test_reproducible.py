"""Same seed, same model; Ctrl-C keeps the work; time budgets, evaluation and progress lines."""

import io
import json
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

import genzoo as gz
from genzoo.cli import main
from genzoo.engine.fit import CKPT_DIR, LAST
from genzoo.engine.progress import Progress

TRAIN = [sys.executable, "-m", "genzoo.cli", "train", "vae", "--data", "digits", "--no-progress",
         "-o", "latent_dim=4", "-o", "hidden=8", "-o", "downsamples=1", "--batch-size", "32"]


def test_two_identical_cli_runs_give_identical_weights(tmp_path):
    for run in ("a", "b"):
        done = subprocess.run([*TRAIN, "--out", str(tmp_path / run), "--max-steps", "25", "--seed", "7"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-1500:]
    a, b = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_seed_decides_the_initial_weights(digits_train):
    def weights(seed):
        model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8, seed=seed)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(1), weights(1))
    assert not torch.equal(weights(1), weights(2))


def test_ctrl_c_saves_a_checkpoint_and_a_model_that_samples_at_once(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([*TRAIN, "--out", str(out), "--max-steps", "1000000", "--checkpoint-every", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "logs").is_dir():  # logging starts with the first step
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-1500:]
    assert "interrupted at step" in stdout
    meta = json.loads((out / "config.json").read_text())
    assert meta["interrupted"] is True and meta["trained_steps"] > 0
    assert (out / CKPT_DIR / LAST).is_file()  # written although no checkpoint step was reached
    assert main(["sample", str(out), "-n", "4", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()


def test_time_budget_stops_the_run(tmp_path, digits_train):
    model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8, downsamples=1, seed=0)
    start = time.perf_counter()
    gz.fit(model, digits_train, max_time=1.5, batch_size=32, out=tmp_path / "r", progress=False)
    assert time.perf_counter() - start < 20
    assert json.loads((tmp_path / "r" / "config.json").read_text())["trained_steps"] > 5


def test_evaluation_reports_quality_and_does_not_change_the_weights(tmp_path):
    data = gz.data.load("breast_cancer", split="train")
    val = gz.data.load("breast_cancer", split="val")

    def train(eval_every):
        model = gz.create("realnvp", data=data, num_layers=2, hidden=(16,), seed=0)
        gz.fit(model, data, max_steps=30, batch_size=32, val_data=val, val_every=10, eval_every=eval_every,
               out=tmp_path / str(eval_every), progress=False)
        return model

    plain, evaluated = train(None), train(10)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), evaluated.state_dict().values()))
    figures = json.loads((tmp_path / "10" / "config.json").read_text())["last_figures"]
    assert set(figures) == {"val_loss", "nll"} and all(map(lambda v: v == v, figures.values()))


def test_image_evaluation_writes_a_grid_and_a_fid(tmp_path, digits_train, digits_test):
    model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8, downsamples=1, seed=0)
    gz.fit(model, digits_train, max_steps=10, batch_size=32, eval_every=10, eval_samples=64, val_data=digits_test,
           out=tmp_path, progress=False)
    figures = json.loads((tmp_path / "config.json").read_text())["last_figures"]
    assert figures["fid"] > 0 and figures["bits_per_dim"] > 0
    assert (tmp_path / "samples" / "step_0000010.png").is_file()


def test_progress_outside_a_terminal_is_one_line_per_report():
    stream = io.StringIO()
    p = Progress(total=100, every=20, stream=stream)
    for step in range(10, 101, 10):
        p.update(step, {"loss": 1.0 / step})
    p.update(100, force=True)
    p.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split()[1] for line in lines] == ["20/100", "40/100", "60/100", "80/100", "100/100"]
