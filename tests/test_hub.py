import json
import subprocess
import sys

import pytest
import torch

import genzoo as gz
from genzoo.errors import GenzooError


@pytest.fixture()
def saved_vae(tmp_path, digits_train):
    model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8)
    gz.save(model, tmp_path / "run")
    return model, tmp_path / "run"


def test_reload_in_a_new_process_samples_identically(saved_vae, tmp_path):
    model, run = saved_vae
    torch.manual_seed(123)
    expected = model.sample(5)
    code = ("import sys, torch, genzoo as gz; m = gz.load(sys.argv[1]); torch.manual_seed(123); "
            "torch.save(m.sample(5), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "s.pt")], check=True)
    assert torch.equal(torch.load(tmp_path / "s.pt"), expected)
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"] == "vae" and meta["config"]["latent_dim"] == 4 and meta["data_info"]["name"] == "digits"


def test_missing_corrupt_and_foreign_checkpoints(saved_vae, tmp_path):
    _, run = saved_vae
    with pytest.raises(GenzooError, match="does not exist"):
        gz.load(tmp_path / "nope")
    (run / "model.safetensors").write_bytes(b"\x80\x04garbage pickle-looking bytes")
    with pytest.raises(GenzooError, match="corrupt"):
        gz.load(run)
    (run / "config.json").write_text("{not json")
    with pytest.raises(GenzooError, match="not valid JSON"):
        gz.load(run)
    (run / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(GenzooError, match="not a genzoo model config"):
        gz.load(run)


def test_weights_that_do_not_match_the_config_are_refused(saved_vae, tmp_path, digits_train):
    _, run = saved_vae
    other = gz.create("vae", data=digits_train, latent_dim=6, hidden=8)
    gz.save(other, tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text((run / "config.json").read_text())
    with pytest.raises(GenzooError, match="does not match"):
        gz.load(tmp_path / "other")


def test_a_failed_save_keeps_the_previous_one(saved_vae, monkeypatch):
    model, run = saved_vae
    before = (run / "model.safetensors").read_bytes()
    import genzoo.hub as hub

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(hub, "_st_save_model", boom)
    with pytest.raises(OSError):
        gz.save(model, run)
    assert (run / "model.safetensors").read_bytes() == before
    assert not list(run.glob(".*.tmp"))
