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


def test_gan_generator_exports_to_onnx_and_torch_export(digits_train, tmp_path):
    """z -> image: onnxruntime and the reloaded ExportedProgram match the eager generator (the EMA one that
    `sample` uses), at the exported batch and at another batch size (the batch axis is dynamic)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install genzoo[export])")
    import onnxruntime

    model = quick("dcgan", digits_train)
    graph = build_graph(model)
    assert graph.name == "decode_noise" and graph.inputs == ["z"]
    assert onnx_matches(model, tmp_path) < 1e-5
    assert not any(m.training for m in model.modules())  # exporting left the model as it was (eval)
    z = torch.randn(5, model.noise_dim)
    with torch.no_grad():
        eager = model.decode_noise(z)
    assert eager.shape == (5, *model.config.data_shape)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert (torch.from_numpy(session.run(None, {"z": z.numpy()})[0]) - eager).abs().max() < 1e-5
    _, diff = export(model, tmp_path / "g.pt2", "pt2")
    assert diff is not None and diff < 1e-5
    program = torch.export.load(str(tmp_path / "g.pt2")).module()
    assert (program(z) - eager).abs().max() < 1e-5
    # eager really is the EMA generator: the raw one differs after a perturbation of the EMA weights
    with torch.no_grad():
        next(model.generator_ema.parameters()).add_(1.0)
        assert (model.decode_noise(z) - eager).abs().max() > 1e-3


def test_class_conditional_generator_takes_labels(digits_train, tmp_path):
    model = quick("cgan", digits_train)
    graph = build_graph(model)
    assert graph.inputs == ["z", "labels"]
    onnx_matches(model, tmp_path)
    _, diff = export(model, tmp_path / "c.pt2", "pt2")
    assert diff is not None and diff < 1e-5
    with pytest.raises(GenzooError, match="class-conditional"):
        model.decode_noise(torch.randn(1, model.noise_dim))


def test_cli_writes_and_refuses_in_one_line(digits_train, tmp_path, capsys):
    gz.save(quick("vae", digits_train), str(tmp_path / "vae"))
    assert main(["export", str(tmp_path / "vae"), "--format", "torchscript", "-o", str(tmp_path / "d.pt")]) == 0
    out = capsys.readouterr().out
    assert "decode_latent" in out and "matches the eager model" in out and (tmp_path / "d.pt").is_file()
    gz.save(quick("dcgan", digits_train), str(tmp_path / "gan"))
    assert main(["export", str(tmp_path / "gan"), "--format", "pt2", "-o", str(tmp_path / "g.pt2")]) == 0
    assert "decode_noise: z (1, 8)" in capsys.readouterr().out
    gz.save(gz.create("bert", max_len=16, n_layer=1, d_model=32, n_head=2), str(tmp_path / "bert"))
    assert main(["export", str(tmp_path / "bert")]) == 2
    assert "no fixed-shape forward" in capsys.readouterr().err
    with pytest.raises(GenzooError, match="has no forward 'logits'"):
        build_graph(quick("vae", digits_train), "logits")
