"""The playground's panels for models that transform what the user gives them (`genzoo serve`).

Each panel belongs to one capability and calls the same function the CLI verb does, so the browser and the
command line cannot drift apart: chat (`TokenModel`, `genzoo chat`'s transcript), inpainting (`Inpainter`, a
hole drawn with the brush or an uploaded mask, `genzoo inpaint`), style transfer (`Stylizer`: the run's
learned style, or Gatys' optimisation towards an uploaded style image, `genzoo stylize`) and upscaling
(`Upscaler`, `genzoo upscale`). Uploaded images arrive as (H, W[, C]) uint8 arrays and are brought to what
the model takes (its channels; its size where the network is fixed-size; a cap on the longest side where it is
convolutional, so one upload cannot occupy the server for minutes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.errors import GenzooError

#: longest side an uploaded image is reduced to before a convolutional model sees it
MAX_SIDE = 256


def to_tensor(array: Any, channels: int, size: tuple[int, int] | None = None, what: str = "image") -> Tensor:
    """An uploaded (H, W[, C]) uint8 array as (1, channels, H, W) in [0, 1]: alpha dropped, RGB <-> grey
    converted, resized to `size` (H, W) or, without one, so that its longest side is at most MAX_SIDE."""
    if array is None:
        raise GenzooError(f"no {what} given: upload one first")
    x = torch.as_tensor(np.asarray(array), dtype=torch.float32)
    x = (x[..., None] if x.ndim == 2 else x[..., :3]).permute(2, 0, 1)[None] / 255.0
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1)
    h, w = x.shape[-2:]
    if size is None and max(h, w) > MAX_SIDE:
        size = (max(1, round(h * MAX_SIDE / max(h, w))), max(1, round(w * MAX_SIDE / max(h, w))))
    if size is not None and (h, w) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1)


def to_array(image: Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) in [0, 1] -> an (H, W[, 3]) uint8 array for gr.Image."""
    x = image[0] if image.ndim == 4 else image
    arr = (x.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def _image_shape(model: Any) -> tuple[int, int, int]:
    info = model.data_info
    if info is None or not info.shape or len(info.shape) != 3:
        raise GenzooError(f"model {model.model_name!r} does not record the (C, H, W) of its images")
    c, h, w = (int(v) for v in info.shape)
    return c, h, w


def _failing_in_one_line(gr: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A handler whose GenzooError shows as Gradio's error toast (one line), not a traceback."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except GenzooError as e:
            raise gr.Error(str(e)) from None

    run.__name__ = fn.__name__
    return run


def chat_panel(gr: Any, model: Any, key: str) -> None:
    """A chat with a token model: the transcript `genzoo chat` keeps, streamed into a chatbot."""
    from genzoo.apps.language import CHAT_DEFAULTS, chat_prompt

    chatbot = gr.Chatbot(label="chat", elem_id=f"chat-{key}", height=320)
    message = gr.Textbox(label="message", elem_id=f"chat-message-{key}")
    with gr.Row():
        send = gr.Button("Send", variant="primary", elem_id=f"chat-send-{key}")
        clear = gr.Button("Clear", elem_id=f"chat-clear-{key}")

    def reply(text: str, messages: list[dict[str, Any]] | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        messages = list(messages or [])
        if not text.strip():
            raise gr.Error("type a message first")
        # the transcript chat_prompt extends: "User: <message>\nBot:<reply as generated>\n" per turn
        history = "".join(f"User: {_content(m)}\n" if m["role"] == "user" else f"Bot:{_content(m)}\n" for m in messages)
        prompt = chat_prompt(model, history, text.strip(), CHAT_DEFAULTS["max_new_tokens"])
        messages += [{"role": "user", "content": text.strip()}, {"role": "assistant", "content": ""}]
        try:
            for piece in model.stream_text(prompt, **CHAT_DEFAULTS):
                messages[-1] = {"role": "assistant", "content": messages[-1]["content"] + piece}
                yield "", messages
        except GenzooError as e:
            raise gr.Error(str(e)) from None
        if not messages[-1]["content"].strip():  # an empty bubble would read as a hung server
            messages[-1] = {"role": "assistant", "content": "(the model ended its turn without a word)"}
        yield "", messages

    send.click(reply, [message, chatbot], [message, chatbot], api_name=f"chat_{key}")
    message.submit(reply, [message, chatbot], [message, chatbot])
    clear.click(lambda: [], None, chatbot)


def _content(message: dict[str, Any]) -> str:
    """A chat message's text (Gradio may hand content back as a list of typed parts)."""
    content = message.get("content", "")
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def inpaint_panel(gr: Any, model: Any, key: str) -> None:
    """Fill a hole: paint it on the image with the brush, or upload a mask (white = fill)."""
    from genzoo.apps.inpaint import inpaint

    c, h, w = _image_shape(model)
    with gr.Row():
        editor = gr.ImageEditor(
            label="image (paint the hole with the brush)",
            type="numpy",
            elem_id=f"inpaint-image-{key}",
            image_mode="RGBA",
            layers=False,
            transforms=(),
        )
        mask_upload = gr.Image(label="or upload a mask (white = fill)", type="numpy", elem_id=f"inpaint-mask-{key}")
    with gr.Row():
        steps = gr.Slider(1, 250, value=25, step=1, label="steps")
        seed = gr.Number(value=0, precision=0, label="seed")
    button = gr.Button("Inpaint", variant="primary", elem_id=f"inpaint-{key}")
    output = gr.Image(label="inpainted", type="numpy", elem_id=f"inpainted-{key}")

    def run(edited: dict[str, Any] | None, mask: Any, n_steps: float, seed_value: float) -> np.ndarray:
        image, drawn = editor_image_and_mask(edited)
        x = to_tensor(image, c, (h, w))
        hole = to_tensor(mask, 1, (h, w), "mask") if mask is not None else drawn_mask(drawn, (h, w))
        hole = (hole > 0.5).float()
        if not hole.any():
            raise GenzooError("mark the pixels to fill: paint over them, or upload a mask (white = fill)")
        generator = torch.Generator(device=model.device).manual_seed(int(seed_value or 0))
        return to_array(inpaint(model, x, hole, steps=int(n_steps), generator=generator))

    button.click(_failing_in_one_line(gr, run), [editor, mask_upload, steps, seed], output, api_name=f"inpaint_{key}")


def editor_image_and_mask(edited: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """An ImageEditor value -> (the uploaded image, the alpha of what was painted over it, or None)."""
    if not edited or edited.get("background") is None:
        raise GenzooError("upload an image first")
    background = np.asarray(edited["background"])
    painted = [np.asarray(layer) for layer in edited.get("layers") or [] if layer is not None]
    alpha = [layer[..., 3] for layer in painted if layer.ndim == 3 and layer.shape[-1] == 4]
    return background, (np.maximum.reduce(alpha) if alpha else None)


def drawn_mask(alpha: np.ndarray | None, size: tuple[int, int]) -> Tensor:
    """The painted strokes' alpha as a (1, 1, H, W) mask of the model's size (all zero when none)."""
    if alpha is None:
        return torch.zeros(1, 1, *size)
    return to_tensor(alpha, 1, size, "mask")


def style_panel(gr: Any, model: Any, key: str) -> None:
    """Stylise an upload: in the run's learned style in one pass, or, with a style image uploaded, by Gatys'
    optimisation from the content towards that image's style (a learned style is one style; an upload is any)."""
    from genzoo.models.style.gatys import GatysConfig, gatys_transfer

    with gr.Row():
        content = gr.Image(label="content image", type="numpy", elem_id=f"style-content-{key}")
        style = gr.Image(
            label="style image (optional: the run's own style without one)", type="numpy", elem_id=f"style-image-{key}"
        )
    steps = gr.Slider(1, 200, value=30, step=1, label="optimisation steps (with a style image)")
    button = gr.Button("Stylize", variant="primary", elem_id=f"stylize-{key}")
    output = gr.Image(label="stylized", type="numpy", elem_id=f"stylized-{key}")

    def run(content_image: Any, style_image: Any, n_steps: float) -> np.ndarray:
        x = to_tensor(content_image, 3, what="content image")
        if style_image is None:
            with torch.no_grad():
                return to_array(model.stylize(x))
        from genzoo.models.style.features import build_features

        config = GatysConfig(steps=int(n_steps), optimizer="adam", size=None)
        result = gatys_transfer(
            x, [to_tensor(style_image, 3, what="style image")], None, config, build_features("auto", None)
        )
        return to_array(result.image)

    button.click(_failing_in_one_line(gr, run), [content, style, steps], output, api_name=f"stylize_{key}")


def upscale_panel(gr: Any, model: Any, key: str) -> None:
    """Super-resolve an upload (its longest side first capped at MAX_SIDE)."""
    from genzoo.apps.superres import upscale

    c = _image_shape(model)[0]
    diffusion = "steps" in inspect.signature(model.upscale).parameters
    image = gr.Image(label="low-resolution image", type="numpy", elem_id=f"upscale-image-{key}")
    steps = gr.Slider(1, 250, value=25, step=1, label="sampler steps", visible=diffusion)
    button = gr.Button("Upscale", variant="primary", elem_id=f"upscale-{key}")
    output = gr.Image(label="upscaled", type="numpy", elem_id=f"upscaled-{key}")

    def run(lowres: Any, n_steps: float) -> np.ndarray:
        options = {"steps": int(n_steps)} if diffusion else {}
        with torch.no_grad():
            return to_array(upscale(model, to_tensor(lowres, c, what="low-resolution image"), **options))

    button.click(_failing_in_one_line(gr, run), [image, steps], output, api_name=f"upscale_{key}")
