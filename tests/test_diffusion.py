"""Diffusion family: schedulers against an exact denoiser, a tiny trained DDPM, guidance, apps, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps.inpaint import biharmonic_fill, inpaint, mean_fill
from genzoo.apps.superres import upscale
from genzoo.cli import main
from genzoo.metrics.restoration import psnr, ssim
from genzoo.models.diffusion.schedulers import NoiseSchedule, make_scheduler

TINY = dict(base_channels=16, channel_mults=(1, 2), attn_resolutions=(4,), heads=2, timesteps=200)


# -- samplers, with no network: the exact denoiser of Gaussian data ------------------------------------
def gaussian_oracle(schedule: NoiseSchedule, prediction: str, m: float, s: float):
    """The Bayes-optimal network output for data x0 ~ N(m, s^2): E[x0 | x_t] in closed form."""

    def out(x: torch.Tensor, t: int) -> torch.Tensor:
        ab = float(schedule.alpha_bar(t))
        a, sig = math.sqrt(ab), math.sqrt(1 - ab)
        x0 = m + a * s**2 / (ab * s**2 + sig**2) * (x - a * m)
        eps = (x - a * x0) / sig
        return {"eps": eps, "x0": x0, "v": a * eps - sig * x0}[prediction]

    return out


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("name,steps,tol", [("ddpm", 1000, 0.015), ("ddim", 50, 0.06), ("dpm++", 20, 0.04)])
def test_samplers_recover_gaussian_data(name: str, steps: int, tol: float, prediction: str) -> None:
    """With the exact denoiser, every sampler must turn noise into N(m, s^2) (up to its step error)."""
    torch.manual_seed(0)
    schedule = NoiseSchedule("cosine" if prediction == "v" else "linear", 1000)
    m, s = 0.3, 0.6
    net = gaussian_oracle(schedule, prediction, m, s)
    sched = make_scheduler(name, schedule, prediction, clip=None)
    sched.set_timesteps(steps)
    x = torch.randn(20000)
    for t in sched.timesteps:
        x = sched.step(net(x, t), t, x)
    assert abs(float(x.mean()) - m) < 0.015
    assert abs(float(x.std()) - s) / s < tol


def test_scheduler_bad_input() -> None:
    schedule = NoiseSchedule("linear", 100)
    with pytest.raises(gz.GenzooError, match="unknown scheduler"):
        make_scheduler("euler", schedule)
    for bad in (0, -3, 101):
        with pytest.raises(gz.GenzooError, match="steps"):
            make_scheduler("ddim", schedule).set_timesteps(bad)
    with pytest.raises(gz.GenzooError, match="schedule"):
        NoiseSchedule("quadratic", 100)


# -- one tiny trained model, shared --------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return gz.data.load("digits", split="train")


@pytest.fixture(scope="module")
def trained(digits):
    model = gz.create("ddpm", data=digits, **TINY)
    x = digits.images[:512]

    def fixed_loss() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return float(model.loss((x, None))["loss"])

    before = fixed_loss()
    gz.fit(model, digits, max_steps=150, batch_size=32, lr=2e-3, ema=0, progress=False)
    return model, before, fixed_loss()


def test_loss_falls(trained) -> None:
    _, before, after = trained
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize("name,steps", [("ddpm", 50), ("ddim", 20), ("dpm++", 10)])
def test_every_scheduler_samples_digits(trained, digits, name: str, steps: int) -> None:
    model, _, _ = trained
    torch.manual_seed(0)
    images = model.sample(64, scheduler=name, steps=steps)
    assert images.shape == (64, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    # a trained model, whatever the sampler, gets the data's overall brightness roughly right
    assert abs(float(images.mean()) - float(digits.images.mean())) < 0.08


def test_ddim_eta0_deterministic(trained) -> None:
    model, _, _ = trained
    a = model.sample(4, scheduler="ddim", steps=10, eta=0.0, generator=torch.Generator().manual_seed(7))
    b = model.sample(4, scheduler="ddim", steps=10, eta=0.0, generator=torch.Generator().manual_seed(7))
    c = model.sample(4, scheduler="ddim", steps=10, eta=0.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_save_load_samples_identically(trained, tmp_path) -> None:
    model, _, _ = trained
    gz.save(model, tmp_path / "run")
    again = gz.load(str(tmp_path / "run"))
    for sched in ("ddim", "dpm++"):
        a = model.sample(4, scheduler=sched, steps=8, generator=torch.Generator().manual_seed(1))
        b = again.sample(4, scheduler=sched, steps=8, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b)


def test_inpainting_keeps_known_pixels_and_beats_mean_fill(trained) -> None:
    model, _, _ = trained
    test = gz.data.load("digits", split="test")
    images = test.images[:32]
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, 4:] = 1  # fill the right half
    out = inpaint(
        model, images, mask, steps=20, jump=5, resample=3, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == images.shape
    assert torch.equal(out[..., :, :4], images[..., :, :4])
    assert psnr(out, images, mask) > psnr(mean_fill(images, mask), images, mask)
    assert biharmonic_fill(images, mask).shape == images.shape
    assert -1 <= ssim(out, images, mask) <= 1


# -- mask-conditioned inpainting: inpaint_ddpm --------------------------------------------------------
@pytest.fixture(scope="module")
def inpainter(digits):
    model = gz.create("inpaint_ddpm", data=digits, **TINY)
    assert model.config.cond_channels == 2  # masked image + mask
    x = digits.images[:512]

    def fixed_loss() -> float:
        torch.manual_seed(123)  # the same noise, timesteps and random masks each time
        with torch.no_grad():
            return float(model.loss((x, None))["loss"])

    before = fixed_loss()
    gz.fit(model, digits, max_steps=30, batch_size=32, lr=2e-3, ema=0, progress=False)
    return model, before, fixed_loss()


def test_random_masks_mix_rectangles_strokes_and_full() -> None:
    from genzoo.models.diffusion.inpaint_ddpm import random_masks

    m = random_masks(400, 8, 12, generator=torch.Generator().manual_seed(0))
    assert m.shape == (400, 1, 8, 12) and set(m.unique().tolist()) <= {0.0, 1.0}
    cover = m.mean((1, 2, 3))
    assert 20 < int((cover == 1).sum()) < 80  # ~10% all-hole masks
    assert (cover > 0).all() and float(cover[cover < 1].mean()) < 0.6  # partial holes leave context


def test_inpaint_ddpm_loss_falls(inpainter) -> None:
    _, before, after = inpainter
    assert after < 0.5 * before, (before, after)


def test_inpaint_ddpm_keeps_known_pixels_one_pass(inpainter) -> None:
    from genzoo.models.diffusion.inpaint_ddpm import random_masks

    model, _, _ = inpainter
    images = gz.data.load("digits", split="test").images[:16]
    masks = random_masks(16, 8, 8, generator=torch.Generator().manual_seed(1))
    calls = []
    model.net.register_forward_hook(lambda *_: calls.append(1))
    out = inpaint(model, images, masks, steps=6, jump=5, resample=5)  # dispatches to model.inpaint
    assert len(calls) == 6  # one pass: RePaint's resampling is not applied
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out * (1 - masks), images * (1 - masks))
    whole = model.sample(8, steps=6)  # the all-hole mask: plain samples
    assert whole.shape == (8, 1, 8, 8) and whole.min() >= 0 and whole.max() <= 1


def test_inpaint_ddpm_save_load_and_errors(inpainter, tmp_path) -> None:
    from PIL import Image

    model, _, _ = inpainter
    run = tmp_path / "run"
    gz.save(model, run)
    again = gz.load(str(run))
    images, mask = torch.rand(3, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 1:5] = 1
    a = model.inpaint(images, mask, steps=5, generator=torch.Generator().manual_seed(4))
    b = again.inpaint(images, mask, steps=5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    with pytest.raises(gz.GenzooError, match="mask"):
        model.inpaint(images, torch.ones(1, 1, 6, 6))
    with pytest.raises(gz.GenzooError, match="cond_channels"):
        gz.create("inpaint_ddpm", image_shape=(1, 8, 8), cond_channels=1)
    # the CLI verb dispatches to the model too; known pixels survive the PNG round trip exactly
    img, hole, small, out = (tmp_path / f for f in ("img.png", "hole.png", "small.png", "out.png"))
    pixels = (np.random.rand(8, 8) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(img)
    m = np.zeros((8, 8), np.uint8)
    m[:, 5:] = 255
    Image.fromarray(m).save(hole)
    Image.fromarray(m[:7]).save(small)
    base = ["inpaint", str(run), "--image", str(img), "--steps", "4", "-o", str(out)]
    assert main([*base, "--mask", str(hole)]) == 0
    assert np.array_equal(np.asarray(Image.open(out))[:, :5], pixels[:, :5])
    assert main([*base, "--mask", str(small)]) == 2  # mask of the wrong size


# -- class-conditional: guidance -------------------------------------------------------------------
def test_guidance_zero_is_unconditional(digits) -> None:
    torch.manual_seed(0)
    model = gz.create("cddpm", data=digits, **TINY).eval()
    assert model.config.num_classes == 10
    with torch.no_grad():
        for p in model.parameters():  # a random net, so conditional and unconditional outputs differ
            p.add_(0.05 * torch.randn_like(p))
    labels = torch.arange(6) % 10

    def draw(**kw):
        return model.sample(6, scheduler="ddim", steps=5, generator=torch.Generator().manual_seed(3), **kw)

    uncond = draw()
    assert torch.allclose(draw(labels=labels, guidance_scale=0.0), uncond, atol=1e-5)
    assert not torch.allclose(draw(labels=labels, guidance_scale=3.0), uncond, atol=1e-3)
    # label dropout: some training labels become the "no label" token
    loss = model.loss((digits.images[:64], digits.labels[:64]))["loss"]
    assert torch.isfinite(loss)
    with pytest.raises(gz.GenzooError, match="labels"):
        model.sample(2, labels=torch.tensor([0, 11]))


# -- super-resolution ---------------------------------------------------------------------------------------
def test_sr3_upscales_and_dispatches() -> None:
    patches = gz.data.load("photos", split="train", patch=16, n=64)
    model = gz.create("sr3", data=patches, scale=2, **TINY)
    loss = model.loss(next(iter(torch.utils.data.DataLoader(patches, batch_size=8))))["loss"]
    assert torch.isfinite(loss)
    low = torch.rand(2, 3, 10, 12)
    big = upscale(model, low, steps=3)
    assert big.shape == (2, 3, 20, 24) and big.min() >= 0 and big.max() <= 1
    with pytest.raises(gz.GenzooError, match="channel"):
        model.upscale(torch.rand(1, 1, 8, 8))


# -- bad input -----------------------------------------------------------------------------------------
def test_bad_input_errors(trained, tmp_path) -> None:
    model, _, _ = trained
    with pytest.raises(gz.GenzooError, match="unknown scheduler"):
        model.sample(2, scheduler="heun")
    with pytest.raises(gz.GenzooError, match="steps"):
        model.sample(2, steps=0)
    with pytest.raises(gz.GenzooError, match="mask"):
        inpaint(model, torch.rand(1, 1, 8, 8), torch.ones(1, 1, 6, 6))
    with pytest.raises(gz.GenzooError, match="image"):
        inpaint(model, torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(gz.GenzooError, match="cannot upscale"):
        upscale(model, torch.rand(1, 1, 4, 4))
    with pytest.raises(gz.GenzooError, match="prediction"):
        gz.create("ddpm", image_shape=(1, 8, 8), prediction="score")


def test_cli(trained, tmp_path) -> None:
    from PIL import Image

    model, _, _ = trained
    run = tmp_path / "run"
    gz.save(model, run)
    img, mask, rgb, small = (tmp_path / f for f in ("img.png", "mask.png", "rgb.png", "small.png"))
    Image.fromarray((np.random.rand(8, 8) * 255).astype(np.uint8)).save(img)
    m = np.zeros((8, 8), np.uint8)
    m[2:6, 2:6] = 255
    Image.fromarray(m).save(mask)
    Image.fromarray((np.random.rand(8, 8, 3) * 255).astype(np.uint8)).save(rgb)
    Image.fromarray(m[:6, :6]).save(small)
    out = tmp_path / "out.png"
    base = ["inpaint", str(run), "--steps", "4", "--resample", "1", "-o", str(out)]
    assert main([*base, "--image", str(img), "--mask", str(mask)]) == 0
    assert np.asarray(Image.open(out).convert("L")).shape == (8, 8)
    assert main([*base, "--image", str(img), "--mask", str(small)]) == 2  # mask of the wrong size
    assert main([*base, "--image", str(rgb), "--mask", str(mask)]) == 2  # wrong channels
    assert main(["inpaint", str(run), "--image", str(img), "--mask", str(mask), "--steps", "0"]) == 2
    assert main(["upscale", str(run), "--image", str(img)]) == 2  # a ddpm cannot upscale


# -- latent diffusion ---------------------------------------------------------------------------------------
def test_latent_diffusion_on_a_saved_vae(digits, tmp_path) -> None:
    vae = gz.create("vae", data=digits, latent_dim=8, hidden=16)
    gz.fit(vae, digits, max_steps=60, batch_size=64, progress=False)
    gz.save(vae, tmp_path / "vae")
    ldm = gz.create("ldm", data=digits, latent_of=str(tmp_path / "vae"), hidden=64, depth=2, timesteps=100)
    x = digits.images[:256]
    torch.manual_seed(0)
    before = float(ldm.loss((x, None))["loss"])
    gz.fit(ldm, digits, max_steps=100, batch_size=64, ema=0, progress=False)
    torch.manual_seed(0)
    assert float(ldm.loss((x, None))["loss"]) < 0.8 * before
    images = ldm.sample(6, scheduler="dpm++", steps=10)
    assert images.shape == (6, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    gz.save(ldm, tmp_path / "ldm")
    again = gz.load(str(tmp_path / "ldm"))
    a = ldm.sample(3, steps=5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, again.sample(3, steps=5, generator=torch.Generator().manual_seed(2)))
    with pytest.raises(gz.GenzooError, match="latent_of"):
        gz.create("ldm", data=digits)


def test_v_prediction_cosine_and_cross_attention_paths(digits) -> None:
    """The options the samplers and text-to-image rely on: v/x0 targets, cosine schedule, context input."""
    from genzoo.nn.unet import UNet

    for prediction in ("v", "x0"):
        model = gz.create("ddpm", data=digits, prediction=prediction, schedule="cosine", **TINY)
        assert torch.isfinite(model.loss((digits.images[:16], None))["loss"])
        images = model.sample(3, scheduler="dpm++", steps=4)
        assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    net = UNet(1, 1, 8, base_channels=16, channel_mults=(1, 2), attn_resolutions=(4,), heads=2,
               context_dim=12)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 50])
    ctx, mask = torch.randn(2, 5, 12), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = net(x, t, context=ctx, context_mask=mask)
    assert out.shape == (2, 1, 8, 8)
    ctx2 = ctx.clone()
    ctx2[0, 3:] = 100.0  # masked-out tokens of example 0 must not matter
    out2 = net(x, t, context=ctx2, context_mask=mask)
    assert torch.allclose(out[0], out2[0], atol=1e-5)
    assert not torch.allclose(out, net(x, t, context=torch.randn(2, 5, 12), context_mask=mask))


def test_attention_block_matches_per_head_softmax_attention() -> None:
    """The token-matmul attention equals textbook multi-head attention over pixels with the block's 1x1-conv
    weights (so checkpoints saved before the rewrite load and behave the same), cross-attention included."""
    from genzoo.nn.unet import AttentionBlock

    torch.manual_seed(0)
    block = AttentionBlock(8, heads=2, context_dim=6)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * 0.3)  # the zero-initialised projections too
    x, ctx = torch.randn(2, 8, 3, 4), torch.randn(2, 5, 6)

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # (N, L, C) each
        out = []
        for h in range(2):
            s = slice(4 * h, 4 * h + 4)
            w = torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / 2.0, dim=-1)  # scale 1/sqrt(4)
            out.append(w @ v[..., s])
        return torch.cat(out, dim=-1)

    def conv1x1(conv: torch.nn.Conv2d, tokens: torch.Tensor) -> torch.Tensor:
        return tokens @ conv.weight[:, :, 0, 0].T + conv.bias

    def to_map(tokens: torch.Tensor) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(2, 8, 3, 4)

    tok = block.norm(x).flatten(2).transpose(1, 2)
    q, k, v = conv1x1(block.qkv, tok).chunk(3, dim=-1)
    ref = x + to_map(conv1x1(block.proj, attend(q, k, v)))
    q = conv1x1(block.cross["q"], block.cross["norm"](ref).flatten(2).transpose(1, 2))
    k, v = block.cross["kv"](ctx).chunk(2, dim=-1)
    ref = ref + to_map(conv1x1(block.cross["proj"], attend(q, k, v)))
    with torch.no_grad():
        assert torch.allclose(block(x, ctx), ref, atol=1e-5)


def test_noise_schedule_keeps_one_table_per_device() -> None:
    """alpha_bar indexes a per-device copy made once (a copy per call would sync a GPU every step)."""
    sched = NoiseSchedule("linear", 1000)
    t = torch.tensor([-1, 0, 999])
    ab = sched.alpha_bar(t)
    assert torch.equal(ab, torch.stack([torch.tensor(1.0), sched.alphas_cumprod[0], sched.alphas_cumprod[-1]]))
    assert sched._table(t.device) is sched._table(torch.device("cpu")) is sched.alphas_cumprod
