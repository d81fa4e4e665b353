"""Video: moving-digits data and clip folders, the space-time U-Net's causality, video_ddpm, `genzoo animate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.cli import main
from genzoo.data.video import read_clip, write_clip
from genzoo.errors import GenzooError
from genzoo.nn.video_unet import VideoUNet

TINY = dict(base_channels=8, channel_mults=(1, 2), attn_resolutions=(8,), temporal_attn_resolutions=(8,),
            sample_steps=4)


def tiny_data(split: str = "train", n: int = 64):
    return gz.data.load("moving_digits", split=split, n=n, frames=4, size=16, digit=10)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """A tiny video_ddpm trained for 80 steps with `fit`; returns its run directory and its loss curve."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("video") / "run"
    data = tiny_data(n=128)
    model = gz.create("video_ddpm", data=data, **TINY)
    gz.fit(model, data, max_steps=80, batch_size=16, out=out, progress=False, log_every=1)
    import csv

    rows = list(csv.DictReader(open(next((out / "logs").rglob("metrics.csv")))))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    return out, losses


# -- data ------------------------------------------------------------------------------------------
def test_moving_digits_shape_range_determinism() -> None:
    a, b = tiny_data(n=16), tiny_data(n=16)
    assert a.videos.shape == (16, 1, 4, 16, 16) and a.info.kind == "video" and a.info.shape == (1, 4, 16, 16)
    assert torch.equal(a.videos, b.videos) and torch.equal(a.labels, b.labels)  # fixed seeds
    assert 0 <= a.videos.min() and a.videos.max() <= 1 and a.videos.max() > 0.9
    assert ((a.labels >= 0) & (a.labels < 10)).all()
    assert (a.videos[:, :, 0] - a.videos[:, :, -1]).abs().sum((1, 2, 3)).gt(0).float().mean() > 0.9  # digits move
    assert not torch.equal(tiny_data("test", n=16).videos, a.videos)
    frames, labels = a.frames()
    assert frames.shape == (64, 1, 16, 16) and torch.equal(labels[:4], a.labels[:1].repeat(4))


def test_clip_folder_roundtrip_and_errors(tmp_path: Path) -> None:
    data = tiny_data(n=3)
    for i, clip in enumerate(data.videos):
        write_clip(clip, tmp_path / f"c{i}.gif")
    back = read_clip(tmp_path / "c0.gif", frames=4, channels=1)
    assert back.shape == (1, 4, 16, 16) and (back - data.videos[0]).abs().max() < 2 / 255
    clips = gz.data.load("clips", split="all", path=str(tmp_path), frames=4, size=8)
    assert clips.videos.shape == (3, 1, 4, 8, 8)
    with pytest.raises(GenzooError, match="fewer than the 6"):
        read_clip(tmp_path / "c0.gif", frames=6)
    (tmp_path / "broken.gif").write_bytes(b"not a gif")
    with pytest.raises(GenzooError, match="broken.gif is not a readable video"):
        gz.data.load("clips", split="all", path=str(tmp_path), frames=4)
    with pytest.raises(GenzooError, match="does not exist"):
        gz.data.load("clips", path=str(tmp_path / "nowhere"))


# -- network ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [True, False])
def test_video_unet_causal_in_time(causal: bool) -> None:
    torch.manual_seed(0)
    net = VideoUNet(2, 1, 16, 6, base_channels=8, channel_mults=(1, 2), attn_resolutions=(8,),
                    temporal_attn_resolutions=(16, 8), causal=causal)
    with torch.no_grad():  # zero-initialised residual branches would hide any leak: make them live
        for p in net.parameters():
            if p.ndim > 0 and not p.abs().sum():
                p.normal_(0, 0.1)
    x = torch.randn(2, 2, 6, 16, 16, requires_grad=True)
    net(x, torch.tensor([3, 700]))[:, :, 2].sum().backward()
    per_frame = x.grad.abs().sum((0, 1, 3, 4))
    assert (per_frame[:3] > 0).all()
    if causal:
        assert torch.equal(per_frame[3:], torch.zeros(3))
    else:
        assert (per_frame[3:] > 0).all()


# -- model -----------------------------------------------------------------------------------------
def test_loss_falls(run: tuple[Path, list[float]]) -> None:
    _, losses = run
    assert len(losses) >= 60
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)


def test_samples_shape_range_and_reload(run: tuple[Path, list[float]]) -> None:
    out, _ = run
    model = gz.load(out)
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 1, 4, 16, 16) and a.min() >= 0 and a.max() <= 1
    assert a.mean() < 0.2  # dark canvases like the data (mean ~0.06), not the ~0.5 of undenoised noise
    b = gz.load(out).sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert model.sample(2, frames=2, steps=2).shape == (2, 1, 2, 16, 16)
    with pytest.raises(GenzooError, match="more than this model's 4-frame clips"):
        model.sample(1, frames=5)


def test_frame_prediction_and_inpainting_keep_known_pixels(run: tuple[Path, list[float]]) -> None:
    model = gz.load(run[0])
    clips = tiny_data("test", n=2).videos
    pred = model.predict(clips[:, :, :2], steps=3)
    assert pred.shape == (2, 1, 4, 16, 16) and torch.equal(pred[:, :, :2], clips[:, :, :2])
    refined = model.predict(clips[:, :, :2], steps=10, init=clips, strength=0.1)  # SDEdit from a guess
    assert refined.shape == pred.shape and torch.equal(refined[:, :, :2], clips[:, :, :2])
    plain = model.predict(clips[:, :, :2], steps=10, generator=torch.Generator().manual_seed(0))
    assert (refined - clips).abs().mean() < (plain - clips).abs().mean()  # little noise: the guess survives
    with pytest.raises(GenzooError, match="strength must be in"):
        model.predict(clips[:, :, :2], init=clips, strength=1.5)
    longer = model.predict(clips[:, :, :3], predict=4, steps=2)  # beyond T: autoregressive roll-out
    assert longer.shape == (2, 1, 7, 16, 16) and torch.equal(longer[:, :, :3], clips[:, :, :3])
    hole = torch.zeros(16, 16)
    hole[4:12, 4:12] = 1
    for method in ("conditioned", "replace"):
        filled = model.inpaint(clips, hole, method=method, steps=3)
        assert torch.equal(filled[..., :4, :], clips[..., :4, :])
        assert not torch.equal(filled[..., 4:12, 4:12], clips[..., 4:12, 4:12])
    with pytest.raises(GenzooError, match="first frames must be"):
        model.predict(torch.zeros(1, 1, 2, 8, 8))
    with pytest.raises(GenzooError, match="fill the model's 4-frame clips"):
        model.predict(clips)


def test_predict_samples_is_the_mean_of_seeded_single_draws(run: tuple[Path, list[float]]) -> None:
    model = gz.load(run[0])
    first = tiny_data("test", n=2).videos[:, :, :2]
    g = torch.Generator().manual_seed(3)
    singles = [model.predict(first, steps=3, generator=g) for _ in range(3)]
    mean = model.predict(first, steps=3, samples=3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(mean, torch.stack(singles).mean(0), atol=1e-6)
    assert not torch.allclose(singles[0], singles[1])  # the draws differ, so the mean is not one of them
    assert torch.equal(mean[:, :, :2], first)  # given frames unchanged
    one = model.predict(first, steps=3, samples=1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(one, singles[0])  # K=1 is the plain single draw
    for bad in (0, -1, 2.5, True):
        with pytest.raises(GenzooError, match="samples must be a positive integer"):
            model.predict(first, steps=3, samples=bad)


def test_wrong_data_kind_is_refused() -> None:
    with pytest.raises(GenzooError, match="needs video data"):
        gz.create("video_ddpm", data=gz.data.load("digits"))


# -- CLI -------------------------------------------------------------------------------------------
def test_animate_cli(run: tuple[Path, list[float]], tmp_path: Path) -> None:
    out = str(run[0])
    gif = tmp_path / "clips.gif"
    assert main(["animate", out, "-n", "2", "--steps", "2", "-o", str(gif)]) == 0
    assert read_clip(gif).shape[1] == 4
    start = tmp_path / "start.gif"
    write_clip(tiny_data("test", n=1).videos[0, :, :2], start)
    cont = tmp_path / "cont.gif"
    assert main(["animate", out, "--first-frames", str(start), "--predict", "2", "--steps", "2",
                 "-n", "1", "--scale", "1", "-o", str(cont)]) == 0
    assert read_clip(cont).shape[1:] == (4, 16, 16)
    mean = tmp_path / "mean.gif"
    assert main(["animate", out, "--first-frames", str(start), "--samples", "3", "--steps", "2",
                 "-n", "1", "--scale", "1", "-o", str(mean)]) == 0
    assert read_clip(mean).shape[1:] == (4, 16, 16)


def test_animate_cli_errors(run: tuple[Path, list[float]], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(run[0])
    assert main(["animate", out, "--frames", "9", "-o", str(tmp_path / "x.gif")]) == 2
    assert "more than this model's 4-frame clips" in capsys.readouterr().err
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"garbage")
    assert main(["animate", out, "--first-frames", str(bad), "-o", str(tmp_path / "y.gif")]) == 2
    assert "is not a readable video" in capsys.readouterr().err
    write_clip(torch.zeros(1, 3, 16, 24), tmp_path / "wide.gif")
    assert main(["animate", out, "--first-frames", str(tmp_path / "wide.gif"), "-o", str(tmp_path / "y.gif")]) == 2
    assert "a different aspect ratio" in capsys.readouterr().err
    assert main(["animate", out, "-o", str(tmp_path / "z.png"), "--steps", "1", "-n", "1"]) == 2
    assert "use .gif or .mp4" in capsys.readouterr().err
    start = tmp_path / "start.gif"
    write_clip(tiny_data("test", n=1).videos[0, :, :2], start)
    for k in ("0", "-2"):
        assert main(["animate", out, "--first-frames", str(start), "--samples", k, "-o", str(tmp_path / "s.gif")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("genzoo: error:") and "--samples: must be at least 1" in err and err.count("\n") == 1
    assert main(["animate", out, "--samples", "2", "-o", str(tmp_path / "s.gif")]) == 2
    assert "it needs --first-frames" in capsys.readouterr().err
    simvp_run = tmp_path / "simvp"
    gz.save(gz.create("simvp", data=tiny_data(n=4)), simvp_run)
    assert main(["animate", str(simvp_run), "--first-frames", str(start), "--samples", "2",
                 "-o", str(tmp_path / "s.gif")]) == 2
    assert "predicts deterministically; --samples needs a generative model" in capsys.readouterr().err
    mask = tmp_path / "mask.npy"
    import numpy as np

    np.save(mask, np.ones((8, 8), dtype=np.float32))
    write_clip(tiny_data(n=1).videos[0], tmp_path / "c.gif")
    assert main(["animate", out, "--inpaint", str(tmp_path / "c.gif"), "--mask", str(mask),
                 "-o", str(tmp_path / "w.gif")]) == 2
    assert "mask must be 16x16" in capsys.readouterr().err
    image_run = tmp_path / "ddpm"
    gz.save(gz.create("ddpm", data=gz.data.load("digits"), base_channels=8), image_run)
    assert main(["animate", str(image_run), "-o", str(tmp_path / "v.gif")]) == 2
    assert "cannot predict video frames; models that can: simvp, video_ddpm" in capsys.readouterr().err


# -- metrics ---------------------------------------------------------------------------------------
def test_video_metrics_on_known_motion() -> None:
    from genzoo.metrics.video import centroids, identity_consistency, mean_speed, prediction_mse, trajectory_jerkiness

    clip = torch.zeros(1, 1, 5, 16, 16)
    for t in range(5):
        clip[0, 0, t, 4:6, 2 + 2 * t : 4 + 2 * t] = 1  # a 2x2 square moving right 2 px per frame
    assert torch.allclose(centroids(clip)[0, 0], torch.tensor([4.5, 2.5]))
    assert mean_speed(clip) == pytest.approx(2.0) and trajectory_jerkiness(clip) == pytest.approx(0.0)
    frozen = clip[:, :, :1].expand(-1, -1, 5, -1, -1)
    assert mean_speed(frozen) == 0 and prediction_mse(frozen, clip, 1) > 0 == prediction_mse(clip, clip, 1)

    def left_half(frames: torch.Tensor) -> torch.Tensor:  # "class 1" when the square is in the left half
        col = centroids(frames.unsqueeze(2))[:, 0, 1]
        return torch.stack([col, 8 - col], 1)

    assert identity_consistency(clip, left_half) == pytest.approx(3 / 4)  # one class change in 4 pairs


# -- simvp: the deterministic baseline -------------------------------------------------------------
SIMVP_TINY = dict(spatial_channels=8, temporal_channels=16, translator_blocks=1)


def test_simvp_learns_and_predicts_deterministically(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = tiny_data(n=64)
    model = gz.create("simvp", data=data, **SIMVP_TINY)
    assert model.config.context == 2 and model.config.video_shape == (1, 4, 16, 16)
    batch = data.videos[:32]
    with torch.no_grad():
        before = float(model.loss(batch)["loss"])
    gz.fit(model, data, max_steps=80, batch_size=16, lr=1e-2, out=tmp_path / "run", progress=False)
    with torch.no_grad():
        after = float(model.loss(batch)["loss"])
    assert after < 0.6 * before, (before, after)
    loaded = gz.load(tmp_path / "run")
    clips = tiny_data("test", n=3).videos
    pred = loaded.predict(clips[:, :, :2])
    assert pred.shape == (3, 1, 4, 16, 16) and torch.equal(pred[:, :, :2], clips[:, :, :2])
    assert 0 <= pred.min() and pred.max() <= 1
    assert torch.equal(pred, loaded.predict(clips[:, :, :2], steps=7))  # sampling options change nothing
    longer = loaded.predict(clips[:, :, :3], predict=5)  # past the clip: rolled out from the last 2 frames
    assert longer.shape == (3, 1, 8, 16, 16) and torch.equal(longer[:, :, :3], clips[:, :, :3])
    with pytest.raises(GenzooError, match="at least 2 given frames"):
        loaded.predict(clips[:, :, :1])
    with pytest.raises(GenzooError, match="first frames must be"):
        loaded.predict(torch.zeros(1, 1, 2, 8, 8))
    with pytest.raises(GenzooError, match="context must be in 1..3"):
        gz.create("simvp", data=data, context=4)
    with pytest.raises(GenzooError, match="needs video data"):
        gz.create("simvp", data=gz.data.load("digits"))


def test_simvp_is_registered_and_drives_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from genzoo.protocols import Sampler, VideoPredictor
    from genzoo.registry import model_entry

    entry = model_entry("simvp")
    assert entry.family == "video" and VideoPredictor in entry.capabilities and Sampler not in entry.capabilities
    assert main(["list"]) == 0 and "simvp" in capsys.readouterr().out
    run = tmp_path / "simvp"
    gz.save(gz.create("simvp", data=tiny_data(n=8), **SIMVP_TINY), run)
    start = tmp_path / "start.gif"
    write_clip(tiny_data("test", n=1).videos[0, :, :2], start)
    cont = tmp_path / "cont.gif"
    assert main(["animate", str(run), "--first-frames", str(start), "--predict", "2", "-n", "1", "--scale", "1",
                 "-o", str(cont)]) == 0
    assert read_clip(cont).shape[1:] == (4, 16, 16)
    drawn = tmp_path / "drawn.gif"
    assert main(["sample", str(run), "-n", "2", "-o", str(drawn)]) == 0  # test clips above their predictions
    assert read_clip(drawn).shape[1:] == (4, 2 * (32 + 2), 2 * 2 * (16 + 2))  # 2 clips, bordered, scale 2
    assert main(["animate", str(run), "-o", str(tmp_path / "x.gif")]) == 2
    assert "has nothing to sample" in capsys.readouterr().err
