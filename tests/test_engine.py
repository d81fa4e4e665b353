import json
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.engine.fit import CKPT_DIR, LAST
from genzoo.engine.safe_checkpoint import load_state, save_state
from genzoo.errors import GenzooError


def _tiny(data):
    return gz.create("vae", data=data, latent_dim=4, hidden=8, downsamples=1)


def test_resume_continues_at_the_saved_step(tmp_path, digits_train):
    out = tmp_path / "run"
    model = _tiny(digits_train)
    gz.fit(model, digits_train, max_steps=12, batch_size=32, out=out, progress=False, checkpoint_every=5, ema=0.9)
    state = load_state(out / CKPT_DIR / LAST)
    assert state["global_step"] == 12
    assert any(k.startswith("ema.") for k in state["state_dict"])  # EMA travels with the checkpoint
    assert state["optimizer_states"][0]["state"]  # Adam moments too
    assert "genzoo_rng" in state
    model2 = _tiny(digits_train)
    gz.fit(model2, digits_train, max_steps=20, batch_size=32, out=out, progress=False, ema=0.9)
    assert load_state(out / CKPT_DIR / LAST)["global_step"] == 20
    assert json.loads((out / "config.json").read_text())["trained_steps"] == 20
    before = {k: v.clone() for k, v in load_state(out / CKPT_DIR / LAST)["state_dict"].items()}
    gz.fit(_tiny(digits_train), digits_train, max_steps=20, batch_size=32, out=out, progress=False, ema=0.9)
    after = load_state(out / CKPT_DIR / LAST)
    assert after["global_step"] == 20 and all(torch.equal(v, after["state_dict"][k]) for k, v in before.items())
    logs = sorted((out / "logs").rglob("metrics.csv"))
    assert len(logs) == 2  # one CSV per fit call, the first kept


def test_safe_checkpoint_round_trips_nested_state_without_pickle(tmp_path):
    state = {"a": torch.arange(3), "opt": {0: {"step": torch.tensor(2.0)}, 1: {}}, "t": (1, 2.5, "x", None),
             "l": [True, {"k": torch.ones(2, 2)}], "inf": float("inf")}
    save_state(state, tmp_path / "c.ckpt")
    back = load_state(tmp_path / "c.ckpt")
    assert torch.equal(back["a"], state["a"]) and back["opt"][0]["step"] == 2.0 and back["opt"][1] == {}
    assert back["t"] == (1, 2.5, "x", None) and back["l"][0] is True and back["inf"] == float("inf")
    assert torch.equal(back["l"][1]["k"], torch.ones(2, 2))
    (tmp_path / "bad.ckpt").write_bytes(b"PK\x03\x04 a zip/pickle")
    with pytest.raises(GenzooError, match="corrupt or unreadable"):
        load_state(tmp_path / "bad.ckpt")


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, digits_train):
    out = tmp_path / "run"
    model = _tiny(digits_train)
    gz.fit(model, digits_train, max_steps=4, batch_size=32, out=out, progress=False)
    before = (out / CKPT_DIR / LAST).read_bytes()
    poisoned = _tiny(digits_train)
    original = poisoned.loss

    def nan_loss(batch):
        parts = original(batch)
        return {**parts, "loss": parts["loss"] * float("nan")}

    poisoned.loss = nan_loss
    with pytest.raises(GenzooError, match="loss became nan at step 4"):
        gz.fit(poisoned, digits_train, max_steps=8, batch_size=32, out=out, progress=False)
    assert (out / CKPT_DIR / LAST).read_bytes() == before


def test_early_stopping_returns_the_best_validation_weights(tmp_path, digits_train, digits_test):
    model = _tiny(digits_train)
    gz.fit(model, digits_train, max_steps=60, batch_size=64, out=tmp_path / "r", val_data=digits_test,
           val_every=10, early_stopping=2, progress=False)
    best = load_state(tmp_path / "r" / CKPT_DIR / "best.ckpt")
    assert Path(tmp_path / "r" / "model.safetensors").is_file()
    reloaded = gz.load(tmp_path / "r")
    sd = {k[len("model."):]: v for k, v in best["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in sd.items())


def test_fit_refuses_bad_options(digits_train):
    with pytest.raises(GenzooError, match="max_steps, max_epochs or max_time"):
        gz.fit(_tiny(digits_train), digits_train)
    with pytest.raises(GenzooError, match="lr must be positive"):
        gz.fit(_tiny(digits_train), digits_train, max_steps=1, lr=-1.0)


def test_auto_precision_only_picks_bf16_where_it_is_fast(monkeypatch):
    from genzoo.engine import precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision.auto_precision("cpu") == "32-true"
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert precision.auto_precision("cpu") == "bf16-mixed"
    assert precision.auto_precision("cpu", "32-true") == "32-true"


def test_auto_precision_measures_and_remembers(monkeypatch):
    from genzoo.engine import precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    calls = []

    def probe(speeds):
        def time_step(p):
            calls.append(p)
            return speeds[p]
        return time_step

    def choice(fp32, bf16, key):
        return precision.auto_precision("cpu", "bf16-mixed", probe({"32-true": fp32, "bf16-mixed": bf16}), key)

    assert choice(2.0, 1.0, "a") == "bf16-mixed"
    assert choice(1.0, 0.97, "b") == "32-true"  # a near-tie goes to fp32
    n = len(calls)
    assert choice(9.0, 1.0, "b") == "32-true" and len(calls) == n  # measured once per key, then remembered
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert choice(9.0, 1.0, "c") == "32-true"  # no bf16 instructions: not even measured
    assert len(calls) == n


def test_fit_records_the_precision_it_chose_and_resume_keeps_it(tmp_path, digits_train):
    model = _tiny(digits_train)
    gz.fit(model, digits_train, max_steps=3, batch_size=32, out=tmp_path, progress=False)
    chosen = json.loads((tmp_path / "config.json").read_text())["precision"]
    assert chosen in ("32-true", "bf16-mixed")
    assert load_state(tmp_path / CKPT_DIR / LAST)["precision"] == chosen


def test_a_killed_run_resumes_at_its_last_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "genzoo.cli", "train", "vae", "--data", "digits", "--out", str(out),
           "--no-progress", "--checkpoint-every", "5", "-O", "latent_dim=4", "-O", "hidden=8"]
    proc = subprocess.Popen([*cmd, "--max-steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / CKPT_DIR / LAST
    deadline = time.time() + 300
    while time.time() < deadline and not (ckpt.is_file() and load_state(ckpt)["global_step"] >= 10):
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_state(ckpt)["global_step"]  # readable after a SIGKILL: writes are atomic
    assert saved >= 10 and saved % 5 == 0
    done = subprocess.run([*cmd, "--max-steps", str(saved + 5)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert f"resuming from {ckpt}" in done.stdout
    assert load_state(ckpt)["global_step"] == saved + 5


def test_compile_trains_the_same_model_through_torch_compile(digits_train):
    """The plumbing of compile=True (the default backend generates C++: too slow for the suite)."""
    plain, compiled = _tiny(digits_train), _tiny(digits_train)
    compiled.load_state_dict(plain.state_dict())
    for model, mode in ((plain, False), (compiled, "aot_eager")):
        gz.fit(model, digits_train, max_steps=3, batch_size=32, precision="32-true", progress=False, compile=mode)
    for a, b in zip(plain.state_dict().values(), compiled.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)
