"""`genzoo serve` in a real browser: Playwright drives Debian's chromium (no browser download) against the
Gradio app on 127.0.0.1, triggers a text generation, a chat turn, a sample grid and an upscale of an uploaded
image, and checks each appears. The inpaint and style panels are driven through their handlers.

GENZOO_SCREENSHOT=path saves a screenshot of the page there (docs/serve.png was made so)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.errors import GenzooError

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits_train):
    folder = tmp_path_factory.mktemp("serve")
    torch.manual_seed(0)
    gz.save(gz.create("gpt", context_length=64, n_layer=1, d_model=32, n_head=2), str(folder / "gpt"))
    gz.save(gz.create("vae", data=digits_train, hidden=8, latent_dim=4), str(folder / "vae"))
    gz.save(gz.create("srgan", data=digits_train, width=8, blocks=1, d_width=8), str(folder / "sr"))
    return [str(folder / "gpt"), str(folder / "vae"), str(folder / "sr")]


def handler(app, api_name):
    return next(f.fn for f in app.fns.values() if f.api_name == api_name)


def test_the_app_offers_each_run_its_capability(runs):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install genzoo[serve])")
    from genzoo.serve import build_app

    app = build_app(runs)
    names = {fn.api_name for fn in app.fns.values()}
    assert {"generate", "chat_0", "sample_1", "sample_2", "upscale_2"} <= names
    assert not {"chat_1", "upscale_1", "inpaint_1", "stylize_1"} & names  # a vae declares none of them
    with pytest.raises(GenzooError, match="at least one run"):
        build_app([])
    import numpy as np

    big = handler(app, "upscale_2")((np.random.default_rng(0).random((8, 8)) * 255).astype("uint8"), 1)
    assert big.shape == (32, 32)  # x4, greyscale as the run's data
    with pytest.raises(Exception, match="no low-resolution image given"):
        handler(app, "upscale_2")(None, 1)


def test_inpaint_and_style_panels_follow_the_capability(digits_train, tmp_path):
    """ddpm gets an inpaint panel (brush strokes or an uploaded mask), fast_style a style panel; each keeps the
    known pixels and answers bad input in one line."""
    pytest.importorskip("gradio", reason="gradio is not installed (pip install genzoo[serve])")
    import numpy as np

    from genzoo.serve import build_app

    torch.manual_seed(0)
    ddpm = gz.create("ddpm", data=digits_train, base_channels=8, channel_mults=[1, 2], attn_resolutions=[4],
                     heads=2, timesteps=20)
    gz.save(ddpm, str(tmp_path / "ddpm"))
    style = gz.create("fast_style", channels=8, res_blocks=1, style_shape=[3, 32, 32], features="random")
    gz.save(style, str(tmp_path / "style"))
    app = build_app([str(tmp_path / "ddpm"), str(tmp_path / "style")])
    image = (np.random.default_rng(0).random((8, 8, 3)) * 255).astype("uint8")
    strokes = np.zeros((8, 8, 4), dtype="uint8")
    strokes[2:5, 2:5, 3] = 255  # painted over the centre: the hole
    filled = handler(app, "inpaint_0")({"background": image, "layers": [strokes], "composite": image}, None, 2, 0)
    assert filled.shape == (8, 8)
    grey = np.round(image.mean(-1))
    known = np.ones((8, 8), bool)
    known[2:5, 2:5] = False
    assert np.abs(filled[known].astype(float) - grey[known]).max() <= 1  # known pixels kept
    with pytest.raises(Exception, match="mark the pixels to fill"):
        handler(app, "inpaint_0")({"background": image, "layers": [], "composite": image}, None, 2, 0)
    mask = np.zeros((8, 8), dtype="uint8")
    mask[:, :4] = 255
    assert handler(app, "inpaint_0")({"background": image, "layers": []}, mask, 2, 0).shape == (8, 8)
    photo = (np.random.default_rng(1).random((20, 30, 3)) * 255).astype("uint8")
    assert handler(app, "stylize_1")(photo, None, 1).shape == (20, 30, 3)  # the run's own style, one pass
    assert handler(app, "stylize_1")(photo, photo[:16, :16], 2).shape == (20, 30, 3)  # an uploaded style


def test_playground_in_a_browser(runs, tmp_path):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install genzoo[serve])")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (genzoo[dev])")
    if not (shutil.which("chromium") and Path(CHROMIUM).exists()):
        pytest.skip(f"no system chromium at {CHROMIUM} (apt-get install chromium; make test does it as root)")
    from genzoo.serve import build_app, launch

    app = build_app(runs)
    url = launch(app, port=free_port(), block=False)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(url, timeout=30_000)
            page.fill("#prompt textarea", "def main():")
            page.click("#generate")
            page.wait_for_function(
                "() => (document.querySelector('#continuation textarea')?.value || '').length > 10", timeout=30_000)
            assert len(page.input_value("#continuation textarea")) > 10
            page.get_by_role("tab", name="chat").click()
            page.fill("#chat-message-0 textarea", "hello there")
            page.click("#chat-send-0")
            page.wait_for_function(
                "() => document.querySelectorAll('#chat-0 .message-row').length >= 2", timeout=30_000)
            assert "hello there" in page.inner_text("#chat-0")
            page.get_by_role("tab", name="vae (vae)").click()
            page.click("#sample-1")
            page.wait_for_selector("#samples-1 img", timeout=30_000)
            page.get_by_role("tab", name="sr (srgan)").click()
            page.get_by_role("tab", name="upscale").click()
            from PIL import Image

            Image.new("L", (8, 8), 128).save(tmp_path / "small.png")
            page.set_input_files("#upscale-image-2 input[type=file]", str(tmp_path / "small.png"))
            page.wait_for_selector("#upscale-image-2 img", timeout=30_000)
            page.click("#upscale-2")
            page.wait_for_selector("#upscaled-2 img", timeout=30_000)
            page.get_by_role("tab", name="gpt (gpt)").click()
            page.get_by_role("tab", name="generate").click()
            page.screenshot(path=os.environ.get("GENZOO_SCREENSHOT") or str(tmp_path / "serve.png"), full_page=True)
            browser.close()
    finally:
        app.close()
