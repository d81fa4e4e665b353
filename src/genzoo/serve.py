"""`genzoo serve RUN [RUN...]`: a local web playground (Gradio) with one tab per run, offering what each run's
capabilities allow.

- a `TokenModel` streams a continuation of the prompt, token by token (prompt, length, temperature), and chats;
- every other run draws what `genzoo sample` would (`genzoo.sampling`: image grids, forecast plots, music,
  speech, clips, ...), shown by what it is: an image, an audio player, text, or a file to download;
- an `Inpainter` fills a hole painted with the brush or given as a mask, a `Stylizer` restyles an upload (in
  its own style, or an uploaded style image's), an `Upscaler` super-resolves one (`genzoo.serve_panels`).

A run with several panels shows them as tabs inside its tab.

It runs offline: Gradio's analytics are off, the page uses system fonts (no font CDN), and it binds to
127.0.0.1 unless told otherwise. Gradio also serves its REST and Python-client API for each button.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.protocols import Inpainter, Stylizer, TokenModel, Upscaler, can

#: sample suffix -> the component that shows it
VIEWERS = {".png": "image", ".gif": "image", ".csv": "image", ".wav": "audio", ".txt": "text"}


def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError:
        raise GenzooError("genzoo serve needs gradio: pip install 'genzoo[serve]'") from None
    return gradio


def _text_tab(gr: Any, model: Any) -> None:
    prompt = gr.Textbox(label="prompt", value="The ", lines=3, elem_id="prompt")
    with gr.Row():
        length = gr.Slider(1, 400, value=80, step=1, label="new tokens")
        temperature = gr.Slider(0.05, 2.0, value=0.8, step=0.05, label="temperature")
    button = gr.Button("Generate", variant="primary", elem_id="generate")
    output = gr.Textbox(label="continuation", lines=8, elem_id="continuation")

    def generate(text: str, new_tokens: float, temp: float) -> Iterator[str]:
        so_far = ""
        try:
            for piece in model.stream_text(text, max_new_tokens=int(new_tokens), temperature=float(temp)):
                so_far += piece
                yield so_far
        except GenzooError as e:
            raise gr.Error(str(e)) from None

    button.click(generate, [prompt, length, temperature], output, api_name="generate")


def _sample_tab(gr: Any, model: Any, key: str) -> None:
    import torch

    from genzoo.sampling import default_suffix, draw, write

    suffix = default_suffix(model)
    with gr.Row():
        n = gr.Slider(1, 64, value=16, step=1, label="how many")
        seed = gr.Number(value=0, precision=0, label="seed")
    button = gr.Button("Sample", variant="primary", elem_id=f"sample-{key}")
    viewer = VIEWERS.get(suffix, "file")
    output = {"image": lambda: gr.Image(label="samples", type="filepath", elem_id=f"samples-{key}"),
              "audio": lambda: gr.Audio(label="samples", type="filepath", elem_id=f"samples-{key}"),
              "text": lambda: gr.Textbox(label="samples", lines=10, elem_id=f"samples-{key}"),
              "file": lambda: gr.File(label="samples", elem_id=f"samples-{key}")}[viewer]()
    folder = Path(tempfile.mkdtemp(prefix="genzoo-serve-"))

    def sample(count: float, seed_value: float) -> Any:
        torch.manual_seed(int(seed_value or 0))
        try:
            written = write(draw(model, int(count)), folder / f"{key}-{int(seed_value or 0)}{suffix}")
        except GenzooError as e:
            raise gr.Error(str(e)) from None
        shown = next((p for p in written if p.suffix == ".png"), written[0]) if viewer == "image" else written[0]
        return shown.read_text() if viewer == "text" else str(shown)

    button.click(sample, [n, seed], output, api_name=f"sample_{key}")


def panels_for(model: Any) -> list[tuple[str, Callable[[Any, Any, str], None]]]:
    """The panels a run gets, by its declared capabilities, in the order its tab shows them."""
    from genzoo import serve_panels

    out: list[tuple[str, Callable[[Any, Any, str], None]]] = []
    if can(model, TokenModel):
        out += [("generate", lambda gr, m, key: _text_tab(gr, m)), ("chat", serve_panels.chat_panel)]
    else:
        out.append(("sample", _sample_tab))
    for capability, name, panel in ((Inpainter, "inpaint", serve_panels.inpaint_panel),
                                    (Stylizer, "style transfer", serve_panels.style_panel),
                                    (Upscaler, "upscale", serve_panels.upscale_panel)):
        if can(model, capability):
            out.append((name, panel))
    return out


def build_app(runs: list[str]) -> Any:
    """The Gradio Blocks app: one tab per run (loaded now, so a bad run fails before anything is served)."""
    import genzoo as gz

    gr = _gradio()
    if not runs:
        raise GenzooError("name at least one run to serve")
    models = [(run, gz.load(run)) for run in runs]
    with gr.Blocks(title="genzoo playground", analytics_enabled=False) as app:
        gr.Markdown("# genzoo playground\nOne tab per run; each offers what its model can do.")
        for i, (run, model) in enumerate(models):
            with gr.Tab(f"{Path(run.removeprefix('hf:')).name} ({model.model_name})"):
                panels = panels_for(model)
                if len(panels) == 1:
                    panels[0][1](gr, model, str(i))
                    continue
                with gr.Tabs():
                    for name, panel in panels:
                        with gr.Tab(name, elem_id=f"panel-{name.replace(' ', '-')}-{i}"):
                            panel(gr, model, str(i))
    return app


def launch(app: Any, host: str = "127.0.0.1", port: int | None = None, block: bool = True) -> str:
    """Serve `app`; returns its local URL (with block=False the server runs in a thread until app.close())."""
    gr = _gradio()
    font = ["system-ui", "sans-serif"]
    theme = gr.themes.Default(font=font, font_mono=["ui-monospace", "monospace"])
    _, url, _ = app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                           share=False, ssr_mode=False, theme=theme, footer_links=["api"])
    return str(url)


def cmd_serve(args: argparse.Namespace) -> None:
    app = build_app(args.runs)
    print(f"genzoo: serving {len(args.runs)} run(s) on http://{args.host}:{args.port} (Ctrl-C stops)")
    launch(app, args.host, args.port)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="a local web playground (Gradio) for one or more runs")
    p.add_argument("runs", nargs="+", help="run directories, transformers folders or hf:owner/name")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to share on the network)")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=cmd_serve)
