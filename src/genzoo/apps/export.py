"""`genzoo export RUN --format onnx|pt2|torchscript|safetensors`: a run's fixed-shape forward as a file other
runtimes load.

Which forward is the one a model has comes from its declared capabilities (never its name), in this order:

- `TokenModel` -> `logits`: token ids (B, T) -> next-token logits (B, T, V) (gpt, char_rnn, converted GPT-2)
- `LatentModel` -> `decode_latent`: latents (B, D) -> data (VAEs, flows, VQ-VAE)
- `NoiseGenerator` -> `decode_noise`: noise z (B, D) [and class labels (B,)] -> data (GAN generators)
- `Denoiser` -> `denoiser`: a noisy sample and an integer timestep (B,) -> the network output (diffusion)
- `ImageToImage` / `Stylizer` / `Upscaler` -> `translate` / `stylize` / `upscale`: images -> images (pix2pix,
  fast style, SRGAN)

Every export is checked before the command reports success: the exported graph runs on the example input
(ONNX through onnxruntime where installed, TorchScript and `pt2` through torch) and must match the eager model.
`pt2` is `torch.export`'s ExportedProgram (`torch.export.load(path).module()`), the format PyTorch's own
compilers and ExecuTorch start from. The batch axis is dynamic in ONNX and pt2 (other axes are fixed at the
example's size). `safetensors` writes the model's weights as one flat file with the forward's name in its
metadata (for runtimes that bring their own code).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.errors import GenzooError
from genzoo.protocols import (
    ClassConditional,
    Denoiser,
    ImageToImage,
    LatentModel,
    NoiseGenerator,
    Stylizer,
    TokenModel,
    Upscaler,
    can,
)

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".pt", "safetensors": ".safetensors"}
#: how close an exported graph must come to the eager model (float32 reassociation differs by ~1e-6)
TOLERANCE = 1e-4


class Forward(nn.Module):
    """One method of a model as a module with tensor inputs (what the exporters trace)."""

    def __init__(self, model: nn.Module, fn: Callable[..., Tensor]) -> None:
        super().__init__()
        self.model = model
        self.fn = fn
        # a new Module is in training mode, and the ONNX exporter restores the wrapper's mode recursively after
        # tracing: without this, an exported model came back in training mode (BatchNorm then mixed the batch)
        self.train(model.training)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.fn(*inputs)


@dataclass
class Graph:
    name: str
    module: Forward
    example: tuple[Tensor, ...]
    inputs: list[str]


def _data_example(model: Any) -> Tensor:
    info = model.data_info
    if info is None or not info.shape:
        raise GenzooError("the run does not record the shape of its data")
    return torch.rand(1, *info.shape)


def candidate_graphs(model: Any) -> list[tuple[str, Callable[[], Graph]]]:
    """The forwards this model declares, each with a builder of its graph and example input."""
    out: list[tuple[str, Callable[[], Graph]]] = []
    if can(model, TokenModel):
        def logits() -> Graph:
            length = min(int(model.context_length or 16), 16)
            ids = torch.randint(0, int(model.vocab_size), (1, length))
            return Graph("logits", Forward(model, model.forward_tokens), (ids,), ["ids"])
        out.append(("logits", logits))
    if can(model, LatentModel):
        def decode() -> Graph:
            z = model.encode_latent(_data_example(model)).detach()
            return Graph("decode_latent", Forward(model, model.decode_latent), (torch.randn_like(z),), ["z"])
        out.append(("decode_latent", decode))
    if can(model, NoiseGenerator):
        def decode_noise() -> Graph:
            z = torch.randn(1, int(model.noise_dim))
            if can(model, ClassConditional) and model.num_classes:
                labels = torch.zeros(1, dtype=torch.long)
                return Graph("decode_noise", Forward(model, model.decode_noise), (z, labels), ["z", "labels"])
            return Graph("decode_noise", Forward(model, model.decode_noise), (z,), ["z"])
        out.append(("decode_noise", decode_noise))
    if can(model, Denoiser):
        def denoise() -> Graph:
            x = torch.randn(1, *model.sample_shape)
            t = torch.full((1,), model.schedule.timesteps // 2, dtype=torch.long)
            return Graph("denoiser", Forward(model, lambda x, t: model.denoiser(x, t)), (x, t), ["x", "t"])
        out.append(("denoiser", denoise))
    for capability, method in ((ImageToImage, "translate"), (Stylizer, "stylize"), (Upscaler, "upscale")):
        if can(model, capability):
            def images(method: str = method) -> Graph:
                return Graph(method, Forward(model, getattr(model, method)), (_data_example(model),), ["images"])
            out.append((method, images))
    return out


def build_graph(model: Any, name: str | None = None) -> Graph:
    """The graph `name` (default: the first the model declares), checked to run eagerly at a fixed shape."""
    found = candidate_graphs(model)
    if not found:
        raise GenzooError(f"model {model.model_name!r} has no fixed-shape forward to export (exportable: token "
                          "models' logits, latent decoders, GAN generators, diffusion denoisers, image-to-image "
                          "networks)")
    names = [n for n, _ in found]
    if name is not None and name not in names:
        raise GenzooError(f"model {model.model_name!r} has no forward {name!r}; it has: {', '.join(names)}")
    builder = dict(found)[name or names[0]]
    try:
        graph = builder()
        with torch.no_grad():
            graph.module(*graph.example)
    except (NotImplementedError, TypeError, RuntimeError, AttributeError) as e:
        raise GenzooError(f"the {name or names[0]} forward of {model.model_name!r} does not run alone at a fixed "
                          f"shape ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return graph


def export(model: Any, path: str | Path, format: str, graph_name: str | None = None) -> tuple[Graph, float | None]:
    """Write `model`'s forward to `path` in `format`; returns the graph and the largest difference from the eager
    model on its example (None where nothing can run the file here: ONNX without onnxruntime, safetensors)."""
    if format not in FORMATS:
        raise GenzooError(f"unknown export format {format!r}; choose {', '.join(FORMATS)}")
    model.eval()
    graph = build_graph(model, graph_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the tracer warns at every shape-dependent `if`; the graph is fixed-shape by design (batch aside)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding")  # the exporter's note, not a fault
        warnings.filterwarnings("ignore", message=".*torch.jit")  # TorchScript is deprecated, still asked for
        eager = graph.module(*graph.example)
        if format == "safetensors":
            from safetensors.torch import save_model

            save_model(graph.module.model, str(path), metadata={"format": "pt", "forward": graph.name})
            return graph, None
        if format == "torchscript":
            traced = torch.jit.trace(graph.module, graph.example, check_trace=False)
            traced.save(str(path))
            return graph, float((torch.jit.load(str(path))(*graph.example) - eager).abs().max())
        if format == "pt2":
            return graph, _export_program(graph, path)
        torch.onnx.export(graph.module, graph.example, str(path), dynamo=False, input_names=graph.inputs,
                          output_names=["output"], opset_version=17,
                          dynamic_axes={n: {0: "batch"} for n in [*graph.inputs, "output"]})
    return graph, _onnx_difference(path, graph, eager)


def _export_program(graph: Graph, path: Path) -> float:
    """torch.export the graph with a dynamic batch axis, save it, and return how far the reloaded program is
    from the eager model. Traced at batch 2: torch.export specialises an axis whose example size is 1."""
    example = tuple(torch.cat([t, t]) for t in graph.example)
    batch = torch.export.Dim.AUTO
    try:
        # Forward takes *inputs: one parameter, so the shapes are one tuple
        program = torch.export.export(graph.module, example, dynamic_shapes=(tuple({0: batch} for _ in example),),
                                      strict=False)
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds (unsupported op, guard, ...)
        raise GenzooError(f"torch.export cannot capture the {graph.name} forward "
                          f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    torch.export.save(program, str(path))
    reloaded = torch.export.load(str(path)).module()
    return float((reloaded(*example) - graph.module(*example)).abs().max())


def _onnx_difference(path: Path, graph: Graph, eager: Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {n: t.numpy() for n, t in zip(graph.inputs, graph.example) if n in names}
    (out,) = session.run(None, feeds)
    return float((torch.from_numpy(out) - eager).abs().max())


def cmd_export(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run)
    output = Path(args.output or Path(args.run.removeprefix("hf:")).name + FORMATS[args.format])
    torch.manual_seed(args.seed)
    graph, diff = export(model, output, args.format, args.forward)
    if diff is not None and not diff <= TOLERANCE:
        output.unlink(missing_ok=True)
        raise GenzooError(f"the exported {graph.name} differs from the eager model by {diff:.3g}; nothing written")
    shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(graph.inputs, graph.example))
    check = "" if diff is None else f"; matches the eager model to {diff:.1e}"
    if diff is None and args.format == "onnx":
        check = "; not checked (pip install onnxruntime to check it)"
    print(f"genzoo: wrote {output} ({graph.name}: {shapes}{check})")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("export", help="export a run's forward (logits, decoder, generator, denoiser) to ONNX, "
                       "torch.export (pt2) or TorchScript")
    p.add_argument("run", help="run directory, transformers folder or hf:owner/name")
    p.add_argument("--format", choices=list(FORMATS), default="onnx",
                   help="onnx, pt2 (a torch.export ExportedProgram), torchscript or safetensors (weights only)")
    p.add_argument("-o", "--output", default=None, help="file to write (default: the run's name + suffix)")
    p.add_argument("--forward", default=None,
                   help="which forward where a model has several: logits, decode_latent, decode_noise, denoiser, ...")
    p.add_argument("--seed", type=int, default=0, help="seed of the example input the export is checked on")
    p.set_defaults(func=cmd_export)
