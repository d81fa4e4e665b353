"""WaveNet: causal by construction (gradient check), mu-law round trip, learns a tone, save/reload."""

from __future__ import annotations

import math
from pathlib import Path

import torch

import genzoo as gz
from genzoo.models.autoregressive.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode

TINY = WaveNetConfig(channels=16, skip_channels=16, layers_per_stack=4, stacks=1)


def test_mu_law_round_trip_error_is_small() -> None:
    x = torch.linspace(-1, 1, 1001)
    err = (mu_law_decode(mu_law_encode(x)) - x).abs()
    assert (
        err.max() < 0.025 and err[495:506].max() < 5e-4
    )  # 8-bit steps: ~0.04 wide at full scale, finest at 0


def test_output_never_depends_on_future_inputs() -> None:
    model = WaveNet(TINY)
    emb = model.embed.weight
    q = torch.randint(0, 256, (1, 40))
    x = model.embed(q).transpose(1, 2).detach().requires_grad_(True)
    h, skips = x, 0
    for block in model.blocks:
        h, s = block(h)
        skips = skips + s
    out = model.out(skips)
    t = 25
    out[0, :, t].sum().backward()
    grad = x.grad[0].abs().sum(0)
    assert grad[t + 1 :].sum() == 0  # nothing after t
    assert grad[t] > 0 and grad[t - model.receptive_field + 1] > 0  # the whole receptive field is used
    assert grad[: t - model.receptive_field + 1].sum() == 0
    assert emb.shape == (256, 16)


def test_learns_a_tone_and_reloads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    t = torch.arange(2048)
    clips = torch.stack([0.5 * torch.sin(2 * math.pi * 441 * (t + 37 * k) / 16000) for k in range(8)])
    model = WaveNet(TINY)
    before = model.loss(clips)["loss"].item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model.loss(clips)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < before - 2.0, (before, loss.item())
    gz.save(model, tmp_path / "w")
    again = gz.load(tmp_path / "w")
    assert torch.allclose(again.log_prob(clips[:2]), model.log_prob(clips[:2]))
    torch.manual_seed(1)
    a = model.sample(2, 50)
    torch.manual_seed(1)
    assert torch.equal(again.sample(2, 50), a) and a.abs().max() <= 1
