"""MADE, PixelCNN, Gated PixelCNN: autoregressive property by gradients, exact likelihood, sampling."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.errors import GenzooError
from genzoo.models.autoregressive.made import MADENet
from genzoo.models.autoregressive.pixelcnn import CausalConv2d


def test_made_outputs_ignore_future_inputs() -> None:
    torch.manual_seed(0)
    order = torch.randperm(6)
    net = MADENet(6, (32, 32), 2, order=order, context_dim=2, zero_init=False)
    for d in range(6):
        x = torch.randn(16, 6, requires_grad=True)
        net.params_of(x, torch.randn(16, 2))[:, d].sum().backward()
        depends = (x.grad != 0).any(0)
        allowed = order < order[d]
        assert not (depends & ~allowed).any(), d
        assert depends[allowed].all(), d  # and it does use every earlier input


def _pixel_dependencies(model, i: int, j: int) -> torch.Tensor:
    x = torch.rand(1, *model.config.image_shape, requires_grad=True)
    cond = torch.eye(10)[:1] if model.config.num_classes else None
    model.network(x, cond)[0, :, i, j].sum().backward()
    return x.grad[0].abs().sum(0) > 0


@pytest.mark.parametrize("name", ["pixelcnn", "gated_pixelcnn"])
@pytest.mark.parametrize("classes", [0, 10])
def test_pixel_models_never_see_the_future(name: str, classes: int) -> None:
    torch.manual_seed(0)
    m = gz.create(name, data=gz.data.load("digits"), channels=8, num_layers=3, num_classes=classes)
    for i, j in ((0, 0), (3, 4), (7, 7), (5, 0)):
        dep = _pixel_dependencies(m, i, j)
        future = torch.zeros(8, 8, dtype=torch.bool)
        future[i, j:] = True
        future[i + 1 :] = True
        assert not (dep & future).any(), (i, j)
        if (i, j) != (0, 0):
            assert dep.any()


def test_gated_pixelcnn_has_no_blind_spot() -> None:
    """The vertical stack reaches above-right pixels that masked-conv stacks miss."""
    torch.manual_seed(0)
    m = gz.create("gated_pixelcnn", data=gz.data.load("digits"), channels=8, num_layers=3)
    dep = _pixel_dependencies(m, 4, 3)
    assert dep[3, 3 - 2 : 3 + 3].all() and dep[2, 1:6].all() and dep[4, 0:3].all()


@pytest.mark.parametrize("vertical", [True, False])
@pytest.mark.parametrize("centre", [True, False])
def test_causal_conv_equals_the_masked_full_kernel(vertical: bool, centre: bool) -> None:
    """The padded small kernel computes what the masked k x k (or 1 x k) kernel does with the same live
    weights (the rows or columns the mask lets through)."""
    torch.manual_seed(0)
    k = 5
    full = torch.randn(4, 3, k if vertical else 1, k)
    mask = torch.zeros_like(full[0, 0])
    if vertical:
        mask[: k // 2 + centre] = 1
    else:
        mask[:, : k // 2 + centre] = 1
    conv = CausalConv2d(3, 4, k, include_centre=centre, vertical=vertical)
    kh, kw = conv.weight.shape[2:]
    conv.load_state_dict({"weight": full[..., :kh, :kw], "bias": torch.randn(4)})
    x = torch.randn(2, 3, 7, 9)
    expected = F.conv2d(x, full * mask, conv.bias, padding=(k // 2 if vertical else 0, k // 2))
    assert conv(x).shape == x.shape[:1] + (4,) + x.shape[2:]
    assert torch.allclose(conv(x), expected, atol=1e-5)


def test_known_bits_per_dim_of_a_uniform_model() -> None:
    """With a zero output layer every level is equally likely: exactly log2(levels) bits per dimension."""
    test = gz.data.load("digits", split="test")
    m = gz.create("pixelcnn", data=test, channels=8, num_layers=1)
    torch.nn.init.zeros_(m.head[-1].weight)
    torch.nn.init.zeros_(m.head[-1].bias)
    out = gz.evaluate(m, test, metrics=["nll"])
    assert out["bits_per_dim"] == pytest.approx(math.log2(17), abs=1e-5)
    assert out["nll_nats"] == pytest.approx(64 * math.log(17), abs=1e-3)


@pytest.mark.parametrize(
    "name,kw", [("gated_pixelcnn", {"channels": 16, "num_layers": 3}), ("made", {"hidden": (128,)})]
)
def test_training_lowers_nll_and_completion_keeps_observed(name: str, kw: dict) -> None:
    torch.manual_seed(0)
    train, test = gz.data.load("digits"), gz.data.load("digits", split="test")
    m = gz.create(name, data=train, **kw)
    before = float(-m.log_prob(test.images[:200]).mean())
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(60):
        idx = torch.randint(0, len(train), (64,))
        loss = m.loss((train.images[idx], train.labels[idx]))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    after = float(-m.log_prob(test.images[:200]).mean())
    assert after < before - 5, (before, after)
    x = test.images[:3]
    observed = torch.zeros_like(x, dtype=torch.bool)
    observed[:, :, :4] = True
    done = m.complete(x, observed)
    ref = x if name == "made" else torch.round(x * 16) / 16  # MADE keeps the observed pixels exactly as given
    assert torch.allclose(done[:, :, :4], ref[:, :, :4])
    assert done.shape == x.shape and done.min() >= 0 and done.max() <= 1


def test_bernoulli_pixelcnn_class_conditional_sample_and_reload(tmp_path) -> None:
    train = gz.data.load("digits")
    m = gz.create("pixelcnn", data=train, channels=8, num_layers=1, likelihood="bernoulli", num_classes=10)
    gz.fit(m, train, max_steps=2, batch_size=16, out=tmp_path / "run", progress=False)
    loaded = gz.load(tmp_path / "run")
    torch.manual_seed(0)
    a = m.sample(3, labels=torch.tensor([1, 2, 3]))
    torch.manual_seed(0)
    b = loaded.sample(3, labels=torch.tensor([1, 2, 3]))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert m.sample(2).shape == (2, 1, 8, 8)  # a conditional run given no labels draws classes uniformly
    with pytest.raises(GenzooError, match="labels"):
        m.sample(2, labels=torch.tensor([1, 99]))
    with pytest.raises(GenzooError, match="likelihood"):
        gz.create("pixelcnn", data=train, likelihood="poisson")
    with pytest.raises(GenzooError, match="shape"):
        m.log_prob(torch.rand(2, 1, 9, 9), labels=torch.tensor([0, 1]))


def test_random_shift_moves_each_image_by_at_most_the_limit() -> None:
    from genzoo.models.autoregressive.common import random_shift

    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one lit pixel in the centre
    torch.manual_seed(0)
    moved = random_shift(x, 2)
    rows, cols = moved[:, 0].sum(2).argmax(1), moved[:, 0].sum(1).argmax(1)
    assert moved.shape == x.shape and torch.equal(moved.sum((1, 2, 3)), torch.ones(64))  # nothing lost
    assert (rows - 4).abs().max() == 2 and (cols - 4).abs().max() == 2  # the limit is reached, never passed
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # each image has its own shift
    assert torch.equal(random_shift(x, 0), x)


def test_pixel_recipe_defaults_dropout_and_shift_touch_training_only() -> None:
    train = gz.data.load("digits")
    m = gz.create("pixelcnn", data=train)
    assert (m.config.channels, m.config.num_layers) == (24, 5)  # the mnist5k recipe (benchmarks/pixelcnn.py)
    gated = gz.create("gated_pixelcnn", data=train, channels=8).config
    assert (gated.channels, gated.num_layers, gated.kernel) == (8, 10, 5)  # the caller wins, the rest is the recipe
    torch.manual_seed(0)
    m = gz.create("gated_pixelcnn", data=train, channels=8, num_layers=2, dropout=0.5, augment_shift=1)
    x = train.images[:16]
    m.train()
    assert m.loss(x)["loss"].item() != m.loss(x)["loss"].item()  # dropout and shifts draw anew each step
    m.eval()
    assert torch.equal(m.log_prob(x), m.log_prob(x))  # evaluation is deterministic and exact
    assert torch.allclose(-m.log_prob(x).mean(), m.loss(x)["nll"])
    with pytest.raises(GenzooError, match="dropout"):
        gz.create("pixelcnn", data=train, dropout=1.0)
