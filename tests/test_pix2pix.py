"""pix2pix: the zero-initialised chroma head starts as the grey copy, the generator EMA, and loading
models saved before the EMA existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import genzoo as gz
from genzoo.errors import GenzooError


def _train(model, data, n: int, lr: float = 2e-3) -> None:
    """n manual steps on random batches of 16 (no training engine: a unit-level check)."""
    opts = model.optimizers_for(lr)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(n):
        idx = torch.randint(0, len(data), (16,), generator=g)
        model.manual_step((data.source[idx], data.target[idx]), opts, lambda loss: loss.backward())
    model.eval()


def _small(data, **kw):
    torch.manual_seed(0)
    return gz.create("pix2pix", data=data, width=8, depth=2, d_width=8, **kw)


@pytest.mark.parametrize("source_skip", [True, False])
def test_grey_to_colour_starts_as_the_grey_copy_and_then_moves(source_skip: bool):
    data = gz.data.load("photo_pairs", n=64, patch=16)
    model = _small(data, source_skip=source_skip).eval()
    grey = data.source[:8]
    assert torch.allclose(model.translate(grey), grey.expand(-1, 3, -1, -1), atol=1e-6)
    assert torch.allclose(model.generate(grey), grey.expand(-1, 3, -1, -1), atol=1e-6)  # the live one too
    _train(model, data, 10)
    assert (model.translate(grey) - grey.expand(-1, 3, -1, -1)).abs().max() > 1e-3  # it learned some colour


def test_edges_to_photo_keeps_a_random_head():
    data = gz.data.load("photo_pairs", n=16, patch=16, task="edges2photo")
    head = _small(data).generator.fuse
    assert head is not None and head.weight.abs().sum() > 0


def test_ema_lags_the_live_generator_and_is_what_translate_uses():
    data = gz.data.load("photo_pairs", n=64, patch=16)
    model = _small(data)
    assert model.generator_ema is not None
    _train(model, data, 12)
    assert int(model.ema_updates) == 12
    live = dict(model.generator.named_parameters())
    diffs = [float((p - live[k]).detach().abs().max()) for k, p in model.generator_ema.named_parameters()]
    assert max(diffs) > 1e-4
    x = data.source[:4]
    with torch.no_grad():
        assert torch.equal(model.translate(x), model.generate(x, use_ema=True))
        assert not torch.allclose(model.translate(x), model.generate(x, use_ema=False))

    off = _small(data, ema_decay=0.0)
    _train(off, data, 3)
    assert off.generator_ema is None
    with torch.no_grad():
        assert torch.equal(off.translate(x), off.generate(x))
    with pytest.raises(GenzooError, match="ema_decay must be in"):
        _small(data, ema_decay=1.0)


def test_saved_model_round_trips_and_older_saves_without_ema_still_load(tmp_path: Path):
    data = gz.data.load("photo_pairs", n=64, patch=16)
    model = _small(data)
    _train(model, data, 5)
    gz.save(model, tmp_path / "new")
    back = gz.load(tmp_path / "new")
    x = data.source[:4]
    assert torch.equal(back.translate(x), model.translate(x)) and int(back.ema_updates) == 5

    # an older save: no ema_decay in its config, no generator_ema.* or ema_updates in its weights
    old = tmp_path / "old"
    gz.save(model, old)
    cfg = json.loads((old / "config.json").read_text())
    cfg["config"].pop("ema_decay")
    (old / "config.json").write_text(json.dumps(cfg))
    weights = load_file(str(old / "model.safetensors"))
    keep = {k: v for k, v in weights.items() if not k.startswith("generator_ema.") and k != "ema_updates"}
    assert len(keep) < len(weights)
    save_file(keep, str(old / "model.safetensors"))
    loaded = gz.load(old)
    with torch.no_grad():
        assert torch.equal(loaded.translate(x), model.generate(x))  # its EMA starts as the generator it had
