"""GAN family: penalties by hand, mode coverage on 8 Gaussians, conditional samples recognised, save/load,
SRGAN/pix2pix shapes and learning, the augmentation app, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.apps.augment import AugmentSettings, labelled_subset, run_augment
from genzoo.cli import main
from genzoo.data.info import DataInfo
from genzoo.data.toy2d import modes_covered
from genzoo.errors import GenzooError
from genzoo.models.gan import losses
from genzoo.nn.resample import downscale


def _steps(model, data, n: int, batch_size: int = 32, lr: float = 1e-3) -> list[dict]:
    """Drive manual_step directly (no Lightning) for quick unit-level checks."""
    opts = model.optimizers_for(lr)
    model.train()
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        idx = torch.randint(0, len(data), (batch_size,), generator=g)
        batch = tuple(torch.stack([data[int(i)][j] for i in idx]) for j in range(2))
        out.append(model.manual_step(batch, opts, lambda loss: loss.backward()))
    return out


def test_gradient_penalty_matches_hand_computation():
    critic = lambda x: (x**2).sum(1)  # noqa: E731 - grad is 2x, so the norm is easy by hand
    real = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    fake = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    alpha = torch.tensor([[0.25], [0.5]])
    # x_hat = (0.25, 0.75) -> grad (0.5, 1.5), |grad| = sqrt(2.5);  x_hat = (1, 0) -> grad (2, 0), |grad| = 2
    expected = ((math.sqrt(2.5) - 1) ** 2 + (2 - 1) ** 2) / 2
    assert losses.gradient_penalty(critic, real, fake, alpha=alpha).item() == pytest.approx(expected, rel=1e-6)
    # R1 = mean |2x|^2 over the real points = (4 + 16) / 2
    assert losses.r1_penalty(critic, real).item() == pytest.approx(10.0, rel=1e-6)


def test_losses_have_their_textbook_values():
    zero = torch.zeros(4)
    assert losses.d_loss("bce", zero, zero).item() == pytest.approx(2 * math.log(2))
    assert losses.d_loss("hinge", torch.full((4,), 2.0), torch.full((4,), -2.0)).item() == 0.0
    assert losses.d_loss("wasserstein", torch.ones(4), zero).item() == -1.0


def test_gan_covers_modes_of_ring_of_gaussians():
    torch.manual_seed(0)
    data = gz.data.load("ring8", std=0.1)
    model = gz.create(
        "dcgan", data=data, latent_dim=8, g_width=64, d_width=64, d_norm="none", r1_weight=0.1, betas=(0.5, 0.9)
    )
    parts = _steps(model, data, 450, batch_size=128)
    model.eval()
    assert modes_covered(model.sample(2000), std=0.1) >= 6
    # the discriminator starts at chance (2 log 2) and the log carries both players' losses and gradient norms
    assert parts[0]["d_loss"].item() == pytest.approx(2 * math.log(2), abs=0.1)
    assert {"d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "r1_penalty"} <= set(parts[-1])


def test_wgan_gp_updates_generator_every_n_critic_steps():
    data = gz.data.load("ring8")
    model = gz.create("wgan_gp", data=data, n_critic=3)
    parts = _steps(model, data, 6)
    assert ["g_loss" in p for p in parts] == [False, False, True, False, False, True]
    assert all("gradient_penalty" in p for p in parts)


def test_projection_starts_at_the_scale_of_the_real_fake_head():
    """Without spectral norm the class embedding once kept nn.Embedding's N(0, 1) init: its term in
    D(x, y) was ~50x the N(0, 0.02) head's, so D judged the class and little else."""
    from genzoo.models.gan.nets import ConvDiscriminator

    torch.manual_seed(0)
    d = ConvDiscriminator((1, 28, 28), 16, 2, "batch", spectral=False, num_classes=10)
    x, y = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
    phi = d.features(x)
    head, project = d.head(phi).squeeze(1), (d.project(y) * phi).sum(1)
    assert project.std() < 3 * head.std()


def test_auxiliary_classifier_trains_both_players_on_the_labels():
    data = gz.data.load("digits")
    model = gz.create(
        "cgan", data=data, g_width=8, d_width=8, latent_dim=8, upsamples=1, aux_weight=1.0, projection=False
    )
    assert model.discriminator.project is None and model.discriminator.classifier is not None
    parts = _steps(model, data, 30, batch_size=32)
    assert {"d_class_loss", "g_class_loss"} <= set(parts[-1])
    assert parts[-1]["d_class_loss"] < parts[0]["d_class_loss"]  # D learns the digits from real images


def test_conditional_samples_are_recognised_by_the_feature_classifier():
    from genzoo.metrics.features import feature_net_for

    train, test = gz.data.load("digits"), gz.data.load("digits", split="test")
    net = feature_net_for("digits", train, test)
    torch.manual_seed(0)
    model = gz.create("cgan", data=train, g_width=32, d_width=32, latent_dim=32, upsamples=1)
    gz.fit(model, train, max_steps=200, batch_size=64, lr=1e-3, progress=False)  # 200 batches (D + G steps)
    labels = torch.arange(500) % 10
    with torch.no_grad():
        acc = (net.logits(model.sample(500, labels=labels)).argmax(1) == labels).float().mean().item()
    assert acc > 0.4, f"conditional samples recognised only {acc:.2f} of the time (chance 0.1)"
    # and each class is many digits, not one: a generator that ignores z (one image per label) scores ~0
    with torch.no_grad():
        spread = model.sample(64, labels=3).std(0).mean().item()
    real_spread = train.images[train.labels == 3].std(0).mean().item()
    assert spread > 0.3 * real_spread, f"within-class spread {spread:.3f} vs real {real_spread:.3f}"


def test_max_steps_counts_batches_not_optimizer_steps(tmp_path: Path):
    """A GAN step is one batch (a D update, and a G update when due): max_steps=N trains on N batches."""
    train = gz.data.load("digits")
    tiny = {"g_width": 8, "d_width": 8, "latent_dim": 4, "upsamples": 1}
    dcgan = gz.fit(
        gz.create("dcgan", data=train, **tiny), train, max_steps=3, batch_size=16, out=tmp_path / "dc", progress=False
    )
    assert int(dcgan.updates) == 3  # counting optimizer steps (2 a batch) stopped after 2 batches
    assert json.loads((tmp_path / "dc" / "config.json").read_text())["trained_steps"] == 3
    wgan = gz.fit(
        gz.create("wgan_gp", data=train, n_critic=2, **tiny), train, max_steps=4, batch_size=16, progress=False
    )
    assert int(wgan.updates) == 4


def test_saved_generator_reloads_and_samples_identically(tmp_path: Path):
    train = gz.data.load("digits")
    model = gz.create("cgan", data=train, g_width=16, d_width=16, latent_dim=8, upsamples=1)
    gz.fit(model, train, max_steps=6, batch_size=32, out=tmp_path / "run", progress=False)
    loaded = gz.load(tmp_path / "run")
    torch.manual_seed(3)
    a = model.sample(16, labels=3)
    torch.manual_seed(3)
    b = loaded.sample(16, labels=3)
    assert torch.equal(a, b)
    assert a.shape == (16, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(model.generator_ema.fc.weight, model.generator.fc.weight)  # EMA really separate


def test_srgan_starts_at_bicubic_then_trains_adversarially():
    data = gz.data.load("photos", n=64, patch=16)
    model = gz.create("srgan", data=data, width=16, blocks=1, d_width=8, pretrain_batches=3)
    hr = data.images[:8]
    low = downscale(hr, 4)
    assert model.upscale(low).shape == (8, 3, 16, 16)
    bicubic = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.allclose(model.upscale(low), bicubic, atol=1e-6)  # zero-initialised residual
    parts = _steps(model, data, 6, batch_size=16)
    assert "d_loss" not in parts[0] and "d_loss" in parts[-1]  # adversarial phase after pre-training
    assert all(torch.isfinite(p["loss"]) for p in parts)
    model.eval()
    out = model.upscale(low)
    assert not torch.allclose(out, bicubic, atol=1e-4) and 0 <= out.min() and out.max() <= 1


def test_srgan_run_upscales_through_the_cli(tmp_path: Path):
    """`genzoo upscale RUN --image X -o Y` dispatches on model.upscale: a saved srgan run works end to end."""
    import numpy as np
    from PIL import Image

    data = gz.data.load("photos", n=32, patch=16)
    model = gz.create("srgan", data=data, width=8, blocks=1, d_width=8, pretrain_batches=1)
    gz.fit(model, data, max_steps=4, batch_size=8, out=tmp_path / "run", progress=False)
    low = downscale(data.images[:1], 4)[0]  # 3x4x4; the generator is convolutional, so try a larger input too
    low = F.interpolate(low[None], size=(6, 5), mode="bilinear", align_corners=False)[0].clamp(0, 1)
    pixels = (low.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(pixels).save(tmp_path / "small.png")
    assert main(
        ["upscale", str(tmp_path / "run"), "--image", str(tmp_path / "small.png"), "-o", str(tmp_path / "big.png")]
    ) in (0, None)
    big = torch.from_numpy(np.asarray(Image.open(tmp_path / "big.png"), dtype="float32") / 255)
    assert big.shape == (24, 20, 3)
    expected = gz.load(tmp_path / "run").upscale(torch.from_numpy(pixels / 255.0).permute(2, 0, 1).float())
    assert (big.permute(2, 0, 1) - expected).abs().max() <= 1 / 255 + 1e-6  # the CLI wrote the model's output


def test_pix2pix_learns_grey_to_colour_and_reads_user_pairs(tmp_path: Path):
    from PIL import Image

    data = gz.data.load("photo_pairs", n=64, patch=16)
    model = gz.create("pix2pix", data=data, width=8, depth=2, d_width=8)
    parts = _steps(model, data, 25, batch_size=16, lr=2e-3)
    assert parts[-1]["l1"] < parts[0]["l1"]
    out = model.translate(data.source[:4])
    assert out.shape == (4, 3, 16, 16) and 0 <= out.min() and out.max() <= 1

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    for i in range(6):
        Image.new("L", (12, 12), color=i * 20).save(tmp_path / "a" / f"{i}.png")
        Image.new("RGB", (12, 12), color=(i * 20, 0, 0)).save(tmp_path / "b" / f"{i}.jpg")
    pairs = gz.data.load("paired", source=str(tmp_path / "a"), target=str(tmp_path / "b"), split="all")
    assert len(pairs) == 6 and pairs[0][0].shape == (1, 12, 12) and pairs[0][1].shape == (3, 12, 12)
    assert gz.create("pix2pix", data=pairs).config.source_shape == (1, 12, 12)


def test_pix2pix_l1_baseline_never_trains_d_and_source_skip_keeps_any_size():
    data = gz.data.load("photo_pairs", n=64, patch=16)
    base = gz.create("pix2pix", data=data, width=8, depth=2, d_width=8, adv_weight=0.0)
    d_before = {k: v.clone() for k, v in base.discriminator.state_dict().items()}
    parts = _steps(base, data, 20, batch_size=16, lr=2e-3)
    assert all(float(p["d_loss"]) == 0.0 and float(p["g_adv"]) == 0.0 for p in parts)
    assert all(torch.equal(v, base.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert parts[-1]["l1"] < parts[0]["l1"]
    assert base.translate(torch.rand(2, 1, 13, 10)).shape == (2, 3, 13, 10)  # padded to a multiple, cropped back
    paper = gz.create("pix2pix", data=data, width=8, depth=2, d_width=8, source_skip=False)
    assert paper.generator.fuse is None and base.generator.fuse is not None
    assert paper.translate(torch.rand(1, 1, 16, 16)).shape == (1, 3, 16, 16)
    # grey -> colour keeps the grey image as the output's luminance (YIQ's Y is photo_pairs' grey)
    assert base.config.luminance_from_source and paper.config.luminance_from_source  # set from the task
    grey = 0.2 + 0.6 * torch.rand(3, 1, 16, 16)  # mid-grey: the chroma cannot push RGB out of [0, 1]
    luma = (base.translate(grey) * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert (luma - grey).abs().max() < 0.02
    edges = gz.data.load("photo_pairs", n=8, patch=16, task="edges2photo")
    assert not gz.create("pix2pix", data=edges, width=8, depth=2).config.luminance_from_source
    with pytest.raises(GenzooError, match="luminance_from_source needs a 1-channel source"):
        gz.create("pix2pix", source_shape=(3, 16, 16), luminance_from_source=True)


def test_augment_app_runs_on_few_labels():
    train, test = gz.data.load("digits"), gz.data.load("digits", split="test")
    model = gz.create("cvae", data=train, latent_dim=4, hidden=8)
    settings = AugmentSettings(per_class=5, seeds=2, steps=60, synthetic_per_class=20)
    res = run_augment(train, test, {"cvae": model}, settings)
    assert set(res) == {"real", "real+classic", "real+cvae", "real+classic+cvae", "cas:cvae"}
    assert res["real"]["mean"] > 0.3  # 50 labelled digits already beat chance (0.1) by far
    assert len(res["real"]["accuracies"]) == 2


def test_bad_input_gets_one_line():
    text = DataInfo("poems", "text", None)
    with pytest.raises(GenzooError, match="needs image or vector data"):
        gz.create("dcgan", data=type("D", (), {"info": text})())
    with pytest.raises(GenzooError, match="needs image data"):
        gz.create("srgan", data=gz.data.load("ring8"))
    with pytest.raises(GenzooError, match="needs labelled data"):
        gz.create("cgan", data=gz.data.load("photos", n=8))
    with pytest.raises(GenzooError, match="d_norm='none'"):
        gz.create("dcgan", gp_weight=10.0)
    with pytest.raises(GenzooError, match="labels"):
        gz.create("cgan").sample(4, labels=torch.tensor([0, 1, 2, 10]))
    train = gz.data.load("digits")
    with pytest.raises(GenzooError, match="between 1 and"):
        labelled_subset(train.images, train.labels, 10_000)


def test_cli_errors_exit_2(tmp_path: Path, capsys):
    assert main(["train", "srgan", "--data", "ring8", "--out", str(tmp_path / "r"), "--max-steps", "2"]) == 2
    assert main(["augment", "--data", "digits", "--per-class", "500"]) == 2
    err = capsys.readouterr().err
    assert "needs image data" in err and "--per-class must be between 1 and" in err


def test_cli_translate_runs_a_saved_pix2pix(tmp_path: Path):
    from PIL import Image

    data = gz.data.load("photo_pairs", n=16, patch=16)
    model = gz.create("pix2pix", data=data, width=8, depth=2, d_width=8)
    gz.save(model, tmp_path / "p2p")
    Image.new("L", (20, 24), color=128).save(tmp_path / "grey.png")
    out = tmp_path / "colour.png"
    run = str(tmp_path / "p2p")
    assert main(["img2img", run, "--image", str(tmp_path / "grey.png"), "-o", str(out)]) == 0
    assert Image.open(out).size == (24, 28)  # 20x24 plus the grid's 2-pixel border
    assert main(["img2img", run, "--image", str(tmp_path / "missing.png")]) == 2
