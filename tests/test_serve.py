"""`genzoo serve` in a real browser: Playwright drives Debian's chromium (no browser download) against the
Gradio app on 127.0.0.1, triggers a text generation and a sample grid, and checks both appear.

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
    return [str(folder / "gpt"), str(folder / "vae")]


def test_the_app_offers_each_run_its_capability(runs):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install genzoo[serve])")
    from genzoo.serve import build_app

    app = build_app(runs)
    names = {fn.api_name for fn in app.fns.values()}
    assert {"generate", "sample_1"} <= names
    with pytest.raises(GenzooError, match="at least one run"):
        build_app([])


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
            page.get_by_role("tab", name="vae (vae)").click()
            page.click("#sample-1")
            page.wait_for_selector("#samples-1 img", timeout=30_000)
            page.get_by_role("tab", name="gpt (gpt)").click()
            page.screenshot(path=os.environ.get("GENZOO_SCREENSHOT") or str(tmp_path / "serve.png"), full_page=True)
            browser.close()
    finally:
        app.close()
