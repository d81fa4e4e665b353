"""Neural style transfer: losses by hand, VGG loading, Gatys, fast net, video consistency, CLI errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.models.style.fast_style import FastStyle, TransformerNet
from genzoo.models.style.features import (
    VGG_PLANS,
    RandomFeatures,
    VGGFeatures,
    load_vgg,
    map_vgg_state_dict,
    read_state_dict,
)
from genzoo.models.style.gatys import GatysConfig, gatys_transfer
from genzoo.models.style.images import rgb_to_yiq, save_image
from genzoo.models.style.losses import content_loss, gram, style_loss, tv_loss
from genzoo.models.style.video_style import (
    occlusion_mask,
    pan_zoom_video,
    read_video,
    stylize_video,
    warp,
    warping_error,
    write_video,
)


def smooth_image(h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bilinear")


# -- losses against hand computation ------------------------------------------------------------------
def test_gram_matches_hand_computation() -> None:
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])  # (1, 2, 2, 2)
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 1.0, -1.0, 2.0]
    dot = lambda u, v: sum(x * y for x, y in zip(u, v, strict=True)) / 4  # noqa: E731
    expected = torch.tensor([[[dot(a, a), dot(a, b)], [dot(b, a), dot(b, b)]]])
    assert torch.allclose(gram(f), expected)


def test_losses_match_hand_computation() -> None:
    x = {"l": torch.tensor([[[[1.0, 2.0]]]])}
    target = {"l": torch.tensor([[[[1.0, 0.0]]]])}
    assert content_loss(x, target).item() == pytest.approx((0 + 4) / (1 + 0))
    # one channel, two positions: gram = mean of squares
    g_x = (1 + 4) / 2
    g1, g2 = {"l": torch.tensor([[[2.0]]])}, {"l": torch.tensor([[[4.0]]])}
    s1, s2 = (g_x - 2.0) ** 2 / 4.0, (g_x - 4.0) ** 2 / 16.0
    assert style_loss(x, [g1]).item() == pytest.approx(s1)
    assert style_loss(x, [g1, g2], [3.0, 1.0]).item() == pytest.approx(0.75 * s1 + 0.25 * s2)
    assert style_loss(x, [g1, g2], [1.0, 0.0]).item() == pytest.approx(s1)
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs 2, 3 -> mean 6.5; horizontal diffs 1, 2 -> mean 2.5
    assert tv_loss(img).item() == pytest.approx(6.5 + 2.5)


# -- the VGG loader ------------------------------------------------------------------
TORCHVISION_VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
TORCHVISION_VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


@pytest.mark.parametrize(
    "arch,convs", [("vgg16", TORCHVISION_VGG16_CONVS), ("vgg19", TORCHVISION_VGG19_CONVS)]
)
def test_vgg_layout_matches_torchvision_keys(arch: str, convs: list[int]) -> None:
    keys = set(VGGFeatures(VGG_PLANS[arch]).state_dict())
    assert keys == {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")}


def test_vgg_loader_maps_synthetic_state_dict_exactly(tmp_path) -> None:
    plan = (4, 4, "M", 8, "M")  # torchvision indices: conv 0, 2, pool 4, conv 5, pool 7
    g = torch.Generator().manual_seed(0)
    state = {
        "features.0.weight": torch.randn(4, 3, 3, 3, generator=g),
        "features.0.bias": torch.randn(4, generator=g),
        "features.2.weight": torch.randn(4, 4, 3, 3, generator=g),
        "features.2.bias": torch.randn(4, generator=g),
        "features.5.weight": torch.randn(8, 4, 3, 3, generator=g),
        "features.5.bias": torch.randn(8, generator=g),
        "classifier.0.weight": torch.randn(2, 8, generator=g),  # the head is present in the file and dropped
        "classifier.0.bias": torch.randn(2, generator=g),
    }
    path = tmp_path / "vgg_tiny.pth"
    torch.save(state, path)
    net = VGGFeatures(plan, pool="max")
    net.load_state_dict(map_vgg_state_dict(read_state_dict(path), net))
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    x = torch.rand(1, 3, 8, 8)
    out = net(x, ["relu1_1", "conv2_1"])
    xn = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    h = F.relu(F.conv2d(xn, state["features.0.weight"], state["features.0.bias"], padding=1))
    assert torch.allclose(out["relu1_1"], h, atol=1e-5)
    h = F.max_pool2d(F.relu(F.conv2d(h, state["features.2.weight"], state["features.2.bias"], padding=1)), 2)
    assert torch.allclose(
        out["conv2_1"],
        F.conv2d(h, state["features.5.weight"], state["features.5.bias"], padding=1),
        atol=1e-5,
    )
    wrong = dict(state, **{"features.5.weight": torch.randn(8, 4, 1, 1)})
    with pytest.raises(GenzooError, match="shape"):
        map_vgg_state_dict(wrong, net)


def test_vgg16_file_loads_and_untrusted_pickles_are_refused(tmp_path) -> None:
    state = VGGFeatures(VGG_PLANS["vgg16"]).state_dict()
    state = {k: torch.full_like(v, float(i)) for i, (k, v) in enumerate(state.items())}
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({**state, "classifier.6.bias": torch.zeros(1000)}, path)
    net = load_vgg("vgg16", weights=path)
    assert net.kind == "vgg16"
    assert torch.equal(net.state_dict()["features.28.weight"], state["features.28.weight"])
    with pytest.raises(GenzooError, match="vgg19 has 16"):
        load_vgg("vgg19", weights=path)  # wrong architecture: one clear line
    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": np.dtype}, evil)  # an arbitrary Python object: not loadable tensors-only
    with pytest.raises(GenzooError, match="cannot read weights"):
        read_state_dict(evil)


# -- Gatys ------------------------------------------------------------------
def test_style_weight_zero_reproduces_content() -> None:
    content = smooth_image(24, 24)
    style = torch.rand(1, 3, 24, 24)
    feats = RandomFeatures(filters=32, scales=(1,))
    cfg = GatysConfig(style_weight=0.0, steps=5, size=None, content_layers=("s1",), style_layers=("s1",))
    exact = gatys_transfer(content, [style], config=cfg, features=feats)
    assert torch.allclose(exact.image, content, atol=1e-6)  # already optimal: nothing moves
    cfg = GatysConfig(
        style_weight=0.0, steps=60, size=None, init="noise", content_layers=("s1",), style_layers=("s1",)
    )
    found = gatys_transfer(content, [style], config=cfg, features=feats)
    start = torch.rand(content.shape, generator=torch.Generator().manual_seed(0))
    err, start_err = (found.image - content).abs().mean(), (start - content).abs().mean()
    assert err < 0.03 and err < start_err / 8, (err, start_err)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gatys_moves_towards_style_and_sizes_output(optimizer: str) -> None:
    content, style = (
        smooth_image(40, 32, 1),
        smooth_image(32, 32, 2) * torch.tensor([1.0, 0.2, 0.2]).view(1, 3, 1, 1),
    )
    feats = RandomFeatures(filters=32, scales=(1, 2))
    cfg = GatysConfig(steps=30, size=24, optimizer=optimizer, lr=0.05)
    out = gatys_transfer(content, [style], config=cfg, features=feats)
    assert out.image.shape == (1, 3, 24, 19) and 0 <= out.image.min() and out.image.max() <= 1
    assert out.history[-1] < 0.5 * out.history[0]
    assert (
        out.image[:, 0].mean() - out.image[:, 1:].mean() > content[:, 0].mean() - content[:, 1:].mean() + 0.05
    )


def test_zero_mean_random_features_shapes_and_blind_to_flat_colour() -> None:
    net = RandomFeatures(filters=12, kernel=5, scales=(1, 2, 4), zero_mean=True)
    assert net.layers == ("s1", "s2", "s4", "rgb") and net.style_layers == net.layers
    out = net(torch.rand(2, 3, 32, 24), net.layers)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "s1": (2, 12, 28, 20),  # a valid 5x5 convolution of the 32x24 image
        "s2": (2, 12, 12, 8),  # of the 16x12 half-size image
        "s4": (2, 12, 4, 2),  # of the 8x6 quarter-size image
        "rgb": (2, 6, 32, 24),  # colour layer: the pixels ReLU'd in both signs
    }
    tiny = net(torch.rand(1, 3, 12, 12), ("s4",))["s4"]  # 3x3 at scale 4 < kernel: padded, not empty
    assert tuple(tiny.shape) == (1, 12, 3, 3)
    # zero-mean filters see structure only: two flat images of different colours give the same responses
    red, blue = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    red[:, 0], blue[:, 2] = 0.9, 0.7
    a, b = net(red, ("s1", "s2")), net(blue, ("s1", "s2"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    plain = RandomFeatures(filters=12, kernel=5, scales=(1, 2))  # the Gaussian bank's DC part sees colour
    assert not torch.allclose(plain(red, ("s1",))["s1"], plain(blue, ("s1",))["s1"], atol=1e-3)


def test_zero_mean_features_paint_the_style_texture() -> None:
    """A smooth photo stylised with vertical stripes (period 4) gains the stripes' frequency."""
    content = smooth_image(32, 32, 5)
    x = torch.arange(32).float()
    style = (0.5 + 0.4 * torch.sign(torch.sin(2 * math.pi * x / 4 + 0.3))).expand(1, 3, 32, 32).contiguous()

    def stripe_power(img: torch.Tensor) -> float:
        y = img[0].mean(0)
        return float(torch.fft.rfft(y - y.mean(), dim=1).abs()[:, 8].mean())  # 32 / 4 = bin 8

    feats = RandomFeatures(filters=48, kernel=5, scales=(1, 2), zero_mean=True)
    out = gatys_transfer(content, [style], config=GatysConfig(steps=30, size=None), features=feats)
    assert out.history[-1] < 0.5 * out.history[0]  # the loss it optimises decreases
    gained = stripe_power(out.image)
    assert gained > 10 * stripe_power(content) and gained > 0.5 * stripe_power(style)


def test_preserve_color_keeps_content_chroma() -> None:
    content, style = smooth_image(24, 24, 3), smooth_image(24, 24, 4)
    cfg = GatysConfig(steps=20, size=None, preserve_color=True, style_weight=50.0)
    out = gatys_transfer(content, [style], config=cfg, features=RandomFeatures(filters=16, scales=(1, 2)))
    iq_out, iq_in = rgb_to_yiq(out.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    y_out, y_in = rgb_to_yiq(out.image)[:, :1], rgb_to_yiq(content)[:, :1]
    assert (iq_out - iq_in).abs().mean() < 0.01  # colour kept (up to clamping)
    assert (y_out - y_in).abs().mean() > 0.01  # luminance restyled


def test_style_image_with_other_channel_count_is_refused() -> None:
    with pytest.raises(GenzooError, match="channel"):
        gatys_transfer(torch.rand(1, 3, 16, 16), [torch.rand(1, 1, 16, 16)], features=RandomFeatures(8))


# -- the fast network ------------------------------------------------------------------
def test_fast_net_is_fully_convolutional() -> None:
    net = TransformerNet(channels=8, res_blocks=1)
    for shape in [(1, 3, 37, 53), (2, 3, 64, 48), (1, 3, 8, 9)]:
        y = net(torch.rand(shape))
        assert y.shape == shape and 0 <= y.min() and y.max() <= 1


def test_fast_style_learns_and_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    style = smooth_image(32, 32, 5)
    model = FastStyle.for_style(
        style, features="random", channels=8, res_blocks=1, style_size=32, temporal_weight=1.0
    )
    patches = torch.cat([smooth_image(24, 24, s) for s in range(8)])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(40):
        parts = model.loss((patches, torch.full((8,), -1)))
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(parts["loss"].item())
    assert set(parts) >= {"content", "style", "tv", "temporal"}
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
    gz.save(model, tmp_path / "run")
    loaded = gz.load(tmp_path / "run")
    x = torch.rand(1, 3, 29, 31)
    assert torch.allclose(loaded.stylize(x), model.eval().stylize(x), atol=1e-6)
    assert torch.equal(loaded.style_image, model.style_image) and loaded.config.features == "random"
    with pytest.raises(GenzooError):
        loaded.sample(1)


# -- video ------------------------------------------------------------------
def test_warp_with_zero_flow_is_identity_and_integer_flow_shifts() -> None:
    img = torch.rand(2, 3, 11, 13)
    assert torch.allclose(warp(img, torch.zeros(2, 2, 11, 13)), img, atol=1e-6)
    flow = torch.zeros(1, 2, 11, 13)
    flow[:, 0] = 2.0  # sample two pixels to the right
    assert torch.allclose(warp(img[:1], flow)[..., :-2], img[:1, :, :, 2:], atol=1e-5)
    mask = occlusion_mask(flow, -flow)
    assert mask[..., :-2].min() == 1 and mask[..., -2:].max() == 0  # pixels whose source left the frame


def test_consistent_video_cuts_flicker() -> None:
    photo = smooth_image(96, 96, 6)[0]
    frames, flows, masks = pan_zoom_video(photo, frames=6, size=(32, 40))
    assert frames.shape == (6, 3, 32, 40) and flows.shape == (5, 2, 32, 40)
    assert warping_error(frames, flows, masks) < 0.1 * warping_error(frames, torch.zeros_like(flows), masks)
    g = torch.Generator().manual_seed(0)

    def flickering(x: torch.Tensor) -> torch.Tensor:  # a style net whose texture changes every frame
        return (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)

    per_frame = stylize_video(frames, flickering, consistent=False)
    steady = stylize_video(frames, flickering, consistent=True, blend=0.7)
    assert warping_error(steady, flows, masks) < 0.5 * warping_error(per_frame, flows, masks)


# -- CLI ------------------------------------------------------------------
def test_cli_bad_inputs_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    rgb, grey = tmp_path / "rgb.png", tmp_path / "grey.png"
    save_image(smooth_image(16, 16), rgb)
    save_image(smooth_image(16, 16).mean(1, keepdim=True), grey)
    assert main(["stylize", "--content", str(bad), "--style", str(rgb), "--features", "random"]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert main(["stylize", "--content", str(rgb), "--style", str(grey), "--features", "random"]) == 2
    assert "channel" in capsys.readouterr().err
    one = tmp_path / "one.gif"
    write_video(smooth_image(16, 16), one)
    with pytest.raises(GenzooError, match="at least 2"):
        read_video(one)
    assert main(["stylize-video", "--input", str(one), "--run", str(tmp_path / "none"), "-o", "x.gif"]) == 2
    assert "frame" in capsys.readouterr().err


def test_cli_train_stylize_and_video(tmp_path) -> None:
    style, content = tmp_path / "style.png", tmp_path / "content.png"
    save_image(smooth_image(32, 32, 7), style)
    save_image(smooth_image(40, 48, 8), content)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train-style",
                "--style",
                str(style),
                "--out",
                str(run),
                "--features",
                "random",
                "--patch",
                "32",
                "--max-steps",
                "3",
                "--batch-size",
                "2",
                "--no-progress",
                "-O",
                "channels=8",
                "-O",
                "res_blocks=1",
            ]
        )
        == 0
    )
    out = tmp_path / "fast.png"
    assert (
        main(
            [
                "stylize",
                "--content",
                str(content),
                "--method",
                "fast",
                "--run",
                str(run),
                "--size",
                "0",
                "-o",
                str(out),
                "--side-by-side",
            ]
        )
        == 0
    )
    assert out.is_file()
    gatys_out = tmp_path / "gatys.png"
    assert (
        main(
            [
                "stylize",
                "--content",
                str(content),
                "--style",
                str(style),
                str(style),
                "--style-weights",
                "1",
                "2",
                "--steps",
                "3",
                "--size",
                "32",
                "--features",
                "random",
                "-o",
                str(gatys_out),
            ]
        )
        == 0
    )
    from PIL import Image

    assert Image.open(gatys_out).size == (32, math.ceil(32 * 40 / 48))
    video = tmp_path / "v.gif"
    assert (
        main(
            [
                "stylize-video",
                "--input",
                str(content),
                "--pan-zoom",
                "4",
                "--size",
                "32",
                "--run",
                str(run),
                "-o",
                str(video),
            ]
        )
        == 0
    )
    frames, _ = read_video(video)
    assert frames.shape == (4, 3, 24, 32)


def test_trained_features_train_cache_and_reload(tmp_path, monkeypatch) -> None:
    from genzoo.models.style.features import build_features, trained_features

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    net = trained_features(steps=3)
    assert net.kind == "trained" and list((tmp_path / "style").glob("*.safetensors"))
    again = trained_features(steps=3)  # from the cache: identical weights
    assert all(
        torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True)
    )
    out = net(torch.rand(1, 3, 32, 32), net.style_layers)
    assert set(out) == set(net.style_layers) and len(net.style_layers) == 4
    with pytest.raises(GenzooError, match="unknown feature network"):
        build_features("inception")
