"""`genzoo export`: each family's fixed-shape forward as ONNX / TorchScript / safetensors, checked against the
eager model (ONNX through onnxruntime)."""

from __future__ import annotations

import pytest
import torch

import genzoo as gz
from genzoo.apps.export import build_graph, export
from genzoo.cli import main
from genzoo.errors import GenzooError


def quick(name: str, data=None, **options):
    from genzoo.registry import model_entry

    r = model_entry(name).cls.quick
    torch.manual_seed(0)
    return gz.create(name, data=data if data is not None else gz.data.load(r.data, split="train"),
                     **{**r.options, **options}).eval()


def onnx_matches(model, tmp_path, forward=None) -> float:
    pytest.importorskip("onnx", reason="onnx is not installed (pip install genzoo[export])")
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install genzoo[export])")
    graph, diff = export(model, tmp_path / "m.onnx", "onnx", forward)
    assert diff is not None and diff < 1e-4, (graph.name, diff)
    return diff


def test_vae_decoder_exports_to_every_format(digits_train, tmp_path):
    model = quick("vae", digits_train)
    assert build_graph(model).name == "decode_latent"
    onnx_matches(model, tmp_path)
    _, diff = export(model, tmp_path / "m.pt", "torchscript")
    assert diff is not None and diff < 1e-5
    export(model, tmp_path / "m.safetensors", "safetensors")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        assert f.metadata()["forward"] == "decode_latent" and len(list(f.keys())) > 4


def test_diffusion_denoiser_and_gpt_logits_export(digits_train, tmp_path):
    onnx_matches(quick("ddpm", digits_train), tmp_path)
    gpt = gz.create("gpt", context_length=16, n_layer=1, d_model=32, n_head=2).eval()
    assert build_graph(gpt).name == "logits"
    onnx_matches(gpt, tmp_path)


def test_flow_decoder_exports(digits_train, tmp_path):
    onnx_matches(quick("realnvp", digits_train), tmp_path)


def test_cli_writes_and_refuses_in_one_line(digits_train, tmp_path, capsys):
    gz.save(quick("vae", digits_train), str(tmp_path / "vae"))
    assert main(["export", str(tmp_path / "vae"), "--format", "torchscript", "-o", str(tmp_path / "d.pt")]) == 0
    out = capsys.readouterr().out
    assert "decode_latent" in out and "matches the eager model" in out and (tmp_path / "d.pt").is_file()
    gz.save(quick("dcgan", digits_train), str(tmp_path / "gan"))
    assert main(["export", str(tmp_path / "gan")]) == 2
    assert "no fixed-shape forward" in capsys.readouterr().err
    with pytest.raises(GenzooError, match="has no forward 'logits'"):
        build_graph(quick("vae", digits_train), "logits")
