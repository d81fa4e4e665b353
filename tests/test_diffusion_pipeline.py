"""The diffusion pipeline against straightforward reference loops written from the formulas, on tiny models.

Each reference reads only alpha_bar and the raw U-Net (`model.net`): DDPM ancestral sampling, DDIM, classifier-
free guidance run as two separate network calls, RePaint written block by block, and the training objective.
The pipeline runs in fp32 here (`sample_autocast = False`) so the comparison is exact up to float rounding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import genzoo as gz
from genzoo.models.diffusion.pipeline import DiffusionModel, drop_condition

SMALL = dict(image_shape=(1, 8, 8), base_channels=8, channel_mults=(1, 2), attn_resolutions=(4,), heads=2,
             timesteps=50)


def tiny(name: str = "ddpm", **kw) -> DiffusionModel:
    torch.manual_seed(0)
    model = gz.create(name, **{**SMALL, **kw}).eval()
    with torch.no_grad():  # the U-Net's output layer starts at zero: make every path matter
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.sample_autocast = False
    return model


def ab(model: DiffusionModel, t: int) -> float:
    return 1.0 if t < 0 else float(model.schedule.alphas_cumprod[t])


def trailing(big_t: int, n: int) -> list[int]:
    return [round(big_t - k * big_t / n) - 1 for k in range(n)]


def eps_net(model: DiffusionModel, x: torch.Tensor, t: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model.net(x, torch.full((len(x),), t, dtype=torch.long), labels)


def clipped(x: torch.Tensor, out: torch.Tensor, a: float, prediction: str = "eps") -> tuple[torch.Tensor, torch.Tensor]:
    """x0 from an eps or v prediction (v = sqrt(a) eps - sqrt(1 - a) x0), clipped to [-1, 1], and the eps
    consistent with it."""
    if prediction == "eps":
        x0 = (x - math.sqrt(1 - a) * out) / math.sqrt(a)
    else:
        x0 = math.sqrt(a) * x - math.sqrt(1 - a) * out
    x0 = x0.clamp(-1, 1)
    return x0, (x - math.sqrt(a) * x0) / math.sqrt(1 - a)


def ddpm_step(model, x, x0, t, s, g):  # noqa: ANN001
    a_t, a_s = ab(model, t), ab(model, s)
    beta = 1 - a_t / a_s
    mean = math.sqrt(a_s) * beta / (1 - a_t) * x0 + math.sqrt(a_t / a_s) * (1 - a_s) / (1 - a_t) * x
    if s < 0:
        return mean
    return mean + math.sqrt(beta * (1 - a_s) / (1 - a_t)) * torch.randn(x.shape, generator=g)


def test_ddpm_sampler_matches_textbook_ancestral_sampling() -> None:
    model = tiny()
    out = model.sample(3, scheduler="ddpm", steps=50, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 1, 8, 8, generator=g)
    for t in range(49, -1, -1):
        x0, _ = clipped(x, eps_net(model, x, t), ab(model, t))
        x = ddpm_step(model, x, x0, t, t - 1, g)
    assert torch.allclose(out, ((x + 1) / 2).clamp(0, 1), atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_with_guidance_matches_two_separate_network_calls(prediction: str) -> None:
    model = tiny("cddpm", num_classes=3, prediction=prediction, schedule="cosine" if prediction == "v" else "linear")
    labels, w, steps = torch.tensor([0, 2]), 2.5, 5
    out = model.sample(2, labels=labels, guidance_scale=w, scheduler="ddim", steps=steps, eta=0.0,
                       generator=torch.Generator().manual_seed(2))
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    ts = trailing(50, steps)
    for t, s in zip(ts, [*ts[1:], -1], strict=True):
        u, c = eps_net(model, x, t, torch.full_like(labels, 3)), eps_net(model, x, t, labels)
        x0, eps = clipped(x, u + w * (c - u), ab(model, t), prediction)
        x = math.sqrt(ab(model, s)) * x0 + math.sqrt(1 - ab(model, s)) * eps
    assert torch.allclose(out, ((x + 1) / 2).clamp(0, 1), atol=1e-5)
    # w = 0 is the unconditional model, whichever labels are asked for
    a = model.sample(2, labels=labels, guidance_scale=0.0, steps=3, generator=torch.Generator().manual_seed(3))
    b = model.sample(2, steps=3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-6)


def test_repaint_matches_a_block_by_block_reference() -> None:
    model = tiny()
    image = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 1:7] = 1
    steps, jump, resample = 8, 3, 3
    out = model.inpaint(image, mask, steps=steps, jump=jump, resample=resample,
                        generator=torch.Generator().manual_seed(5))
    assert torch.equal(out * (1 - mask), image * (1 - mask))

    g = torch.Generator().manual_seed(5)
    known = image * 2 - 1
    ts = trailing(50, steps)
    nxt = [*ts[1:], -1]
    x = torch.randn(known.shape, generator=g)
    for start in range(0, steps, jump):
        end = min(start + jump, steps)
        for r in range(resample if end < steps else 1):
            if r:  # back from level ts[end] to ts[start] with fresh forward noise
                ratio = ab(model, ts[start]) / ab(model, ts[end])
                x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * torch.randn(x.shape, generator=g)
            for i in range(start, end):
                t, a = ts[i], ab(model, ts[i])
                noisy = math.sqrt(a) * known + math.sqrt(1 - a) * torch.randn(known.shape, generator=g)
                x = (1 - mask) * noisy + mask * x
                x0, _ = clipped(x, eps_net(model, x, t), a)
                x = ddpm_step(model, x, x0, t, nxt[i], g)
    ref = (1 - mask) * image + mask * ((x + 1) / 2).clamp(0, 1)
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_objective_matches_the_formula(prediction: str) -> None:
    model = tiny(prediction=prediction)
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    torch.manual_seed(6)
    got = model.diffusion_loss(x0)["loss"]
    torch.manual_seed(6)
    t = torch.randint(0, 50, (4,))
    noise = torch.randn_like(x0)
    a = model.schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = {"eps": noise, "x0": x0, "v": a.sqrt() * noise - (1 - a).sqrt() * x0}[prediction]
    out = model.net(xt, t)
    assert torch.allclose(got, ((out - target) ** 2).mean(), atol=1e-6)
    # weighted: the mean over the weighted part only
    weight = torch.zeros(4, 1, 8, 8)
    weight[:, :, :3] = 1
    torch.manual_seed(6)
    got = model.diffusion_loss(x0, weight=weight)["loss"]
    assert torch.allclose(got, ((out - target) ** 2)[:, :, :3].mean(), atol=1e-6)


def test_condition_dropout() -> None:
    labels = torch.arange(1000) % 7
    assert torch.equal(drop_condition(labels, 7, 0.0), labels)
    assert torch.equal(drop_condition(labels, 7, 0.0, also=labels == 3), torch.where(labels == 3, 7, labels))
    share = float((drop_condition(labels, 7, 0.3) == 7).float().mean())
    assert 0.25 < share < 0.35
    ids, null = torch.randint(2, 9, (500, 6)), torch.zeros(500, 6, dtype=torch.long)
    out = drop_condition(ids, null, 0.5)
    dropped = (out == 0).all(1)
    assert 0.4 < float(dropped.float().mean()) < 0.6 and torch.equal(out[~dropped], ids[~dropped])


# -- a new diffusion model writes only its network --------------------------------------------------------
@dataclass
class PointsConfig:
    timesteps: int = 100
    schedule: str = "cosine"
    prediction: str = "v"
    sampler: str = "dpm++"
    sample_steps: int = 20
    eta: float = 0.0
    clip_sample: bool = False


class Points(DiffusionModel):
    """2-D points: a small MLP denoiser and nothing else; loss and sample come from the pipeline."""

    Config = PointsConfig

    def __init__(self, config: PointsConfig) -> None:
        super().__init__(config)
        self.mlp = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))

    sample_shape = (2,)

    def to_space(self, data: torch.Tensor) -> torch.Tensor:
        return data

    def from_space(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def denoiser(self, x: torch.Tensor, t: torch.Tensor, cond: None = None) -> torch.Tensor:
        return self.mlp(torch.cat([x, t[:, None].float() / self.config.timesteps], 1))


def test_a_model_with_only_a_denoiser_trains_and_samples_with_every_scheduler() -> None:
    torch.manual_seed(0)
    mean, std = torch.tensor([0.8, -0.5]), torch.tensor([0.3, 0.15])
    model = Points(PointsConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        loss = model.loss(mean + std * torch.randn(256, 2))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    for scheduler in ("ddpm", "ddim", "dpm++"):
        x = model.sample(2000, scheduler=scheduler, steps=50 if scheduler == "ddpm" else 20)
        assert torch.allclose(x.mean(0), mean, atol=0.08), (scheduler, x.mean(0))
        assert torch.allclose(x.std(0), std, atol=0.08), (scheduler, x.std(0))


def test_one_loop_one_objective_one_guidance() -> None:
    """Only the pipeline steps a sampler, forms a training target or mixes guided outputs."""
    root = Path(gz.__file__).parent
    patterns = {"denoising loop": r"\.step\(\s*\w", "objective": r"schedule\.target\(",
                "guidance": r"\+ \w+ \* \(c - u\)"}
    for what, pattern in patterns.items():
        files = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
                 if re.search(pattern, p.read_text())}
        files -= {"models/diffusion/schedulers.py", "models/style/gatys.py"}  # docstring; L-BFGS closure
        assert files == {"models/diffusion/pipeline.py"}, (what, files)
