"""Super-resolution models (srgan, sr3): both start as exactly bicubic and a few steps already move past it."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.errors import GenzooError
from genzoo.nn.resample import bicubic_upscale, downscale


def _patches() -> torch.Tensor:
    return gz.data.load("photos", split="train", patch=16, n=64).images


def test_srgan_l1_steps_beat_bicubic_on_the_batch_they_saw() -> None:
    hr = gz.data.load("photos", split="train", patch=32, n=16).images
    low = downscale(hr, 4)
    model = gz.create(
        "srgan", data=gz.data.load("photos", patch=32, n=16), width=16, blocks=2, pretrain_batches=10**6
    )  # pixel loss only: the SRResNet stage
    bicubic = bicubic_upscale(low, 4)
    assert torch.equal(model.upscale(low), bicubic)  # zero-initialised residual: exactly the baseline
    opts = model.optimizers_for(3e-4)
    model.train()
    parts = [model.manual_step((hr, None), opts, lambda loss: loss.backward()) for _ in range(80)]
    assert all("d_loss" not in p for p in parts)  # no adversarial step in the L1 stage
    model.eval()
    out = model.upscale(low)
    assert out.shape == hr.shape and 0 <= out.min() and out.max() <= 1
    assert F.l1_loss(out, hr) < F.l1_loss(bicubic, hr)
    assert model.upscale(torch.rand(3, 5, 7)).shape == (3, 20, 28)  # convolutional: any input size


def test_srgan_self_ensemble_is_flip_equivariant_and_padding_is_checked() -> None:
    data = gz.data.load("photos", patch=16, n=8)
    model = gz.create("srgan", data=data, width=8, blocks=1)
    torch.manual_seed(0)
    for p in model.generator.parameters():  # an arbitrary non-symmetric generator, not the bicubic start
        p.data.normal_(0, 0.1)
    low = downscale(data.images, 4)
    plain, ensemble = model.upscale(low), model.upscale(low, self_ensemble=True)
    assert not torch.allclose(model.upscale(low.flip(-1)), plain.flip(-1), atol=1e-3)  # one pass is not
    assert torch.allclose(model.upscale(low.flip(-1), self_ensemble=True), ensemble.flip(-1), atol=1e-5)
    rotated = low.transpose(-1, -2).flip(-1)
    assert torch.allclose(model.upscale(rotated, self_ensemble=True), ensemble.transpose(-1, -2).flip(-1), atol=1e-5)
    assert gz.create("srgan", data=data, width=8, blocks=1, padding="zeros").upscale(low).shape == plain.shape
    with pytest.raises(GenzooError, match="padding"):
        gz.create("srgan", data=data, width=8, blocks=1, padding="reflect-ish")


def test_sr3_starts_at_bicubic_and_learns_a_residual() -> None:
    hr = _patches()[:16]
    low = downscale(hr, 4)
    model = gz.create(
        "sr3",
        data=gz.data.load("photos", patch=16, n=16),
        scale=4,
        base_channels=8,
        channel_mults=(1, 2),
        attn_resolutions=(),
        timesteps=100,
    )
    bicubic = bicubic_upscale(low, 4)
    for steps in (1, 3):  # x0-prediction from a zero-initialised output: no residual, whatever the sampler
        assert torch.allclose(model.upscale(low, steps=steps), bicubic, atol=1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    torch.manual_seed(0)
    model.train()
    for _ in range(10):
        loss = model.loss(hr)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    out = model.upscale(low, steps=1, generator=torch.Generator().manual_seed(0))
    assert out.shape == hr.shape and 0 <= out.min() and out.max() <= 1
    assert not torch.allclose(out, bicubic, atol=1e-4)  # the trained U-Net adds a residual
    assert model.upscale(torch.rand(1, 3, 6, 5), steps=2).shape == (1, 3, 24, 20)
