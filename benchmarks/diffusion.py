"""Diffusion benchmark: genzoo's DDPM side by side with diffusers, samplers, super-resolution, inpainting.

    PYTHONPATH=src python benchmarks/diffusion.py            # full run (sized for one GPU, ~7 min)
    PYTHONPATH=src python benchmarks/diffusion.py --throughput-only   # on a CPU: the speed rows only
    PYTHONPATH=src python benchmarks/diffusion.py --smoke    # seconds-long budgets, checks the script runs

Same data (mnist5k padded to 32x32), same U-Net size (+-10% parameters), same batch, optimizer, lr and EMA
for both systems; each trains in its own loop for the same wall-clock budget and samples with its own
50-step DDIM. Throughput is the median of interleaved repeats (A, B, A, B, ...). Writes
benchmarks/results/diffusion.json (diffusion_cpu.json on a CPU) and sample grids beside it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, interleaved_medians, throughput  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.inpaint import biharmonic_fill, inpaint, mean_fill  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.metrics.restoration import psnr, ssim  # noqa: E402
from genzoo.models.diffusion.sr3 import bicubic_upscale, downscale  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

LR, EMA = 1e-3, 0.995


def diffusers_unet() -> torch.nn.Module:
    from diffusers import UNet2DModel

    # mirrors genzoo's default: widths 32/64/64, one res block per level, attention at 8x8
    return UNet2DModel(
        sample_size=32,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=16,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    )


class System:
    """One training loop per library: batch -> noise -> loss -> AdamW, with the same EMA."""

    def __init__(
        self,
        name: str,
        net: torch.nn.Module,
        loss_fn: Callable[[torch.Tensor], torch.Tensor],
        device: torch.device,
    ) -> None:
        self.name, self.net, self.loss_fn, self.device = name, net.to(device), loss_fn, device
        self.opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.0)
        self.ema = copy.deepcopy(net).requires_grad_(False)

    def step(self, x: torch.Tensor, bf16: bool) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = self.loss_fn(x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.net.parameters()), 1 - EMA)
            for eb, mb in zip(self.ema.buffers(), self.net.buffers(), strict=True):
                eb.copy_(mb)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def diffusers_sample(
    unet: torch.nn.Module, n: int, steps: int, device: torch.device, batch: int
) -> torch.Tensor:
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    sched.set_timesteps(steps)
    out = []
    for start in range(0, n, batch):
        x = torch.randn(min(batch, n - start), 1, 32, 32, device=device)
        for t in sched.timesteps:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                eps = unet(x, t).sample.float()
            x = sched.step(eps, t, x).prev_sample
        out.append(((x + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(out)


def genzoo_sample(model, n: int, batch: int, **kw) -> torch.Tensor:  # noqa: ANN001
    return torch.cat([model.sample(min(batch, n - s), **kw).cpu() for s in range(0, n, batch)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="seconds-long budgets: check that the script runs")
    ap.add_argument("--throughput-only", action="store_true", help="only the training-speed rows")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    smoke = args.smoke
    # budgets: train seconds per system, FID samples, timing steps, SR seconds, inpaint images, sweep samples
    train_s, n_fid, t_steps, sr_s, n_inp, n_sweep = (
        (2, 16, 2, 2, 4, 8) if smoke else (60, 1000, 30, 45, 200, 1000)
    )
    if not gpu and not smoke:
        t_steps = 5
    sweep = [("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("ddim", 10), ("dpm++", 20), ("dpm++", 10)]
    if smoke:
        sweep = [("ddpm", 10), ("ddim", 5), ("dpm++", 5)]
    fid_steps, inp_steps, sr_steps = (5, 5, 3) if smoke else (50, 50, 20)
    batch = 128 if gpu else 64
    res = Results("diffusion_smoke" if smoke else "diffusion" if gpu else "diffusion_cpu")
    t_all = time.time()
    torch.manual_seed(0)

    train = gz.data.load("mnist5k", split="train", size=32)
    test = gz.data.load("mnist5k", split="test", size=32)
    data = (train.images * 2 - 1).to(device)

    def batch_x() -> torch.Tensor:
        return data[torch.randint(0, len(data), (batch,), device=device)]

    # -- the two systems --------------------------------------------------------------------------------
    from diffusers import DDPMScheduler

    model = gz.create("ddpm", data=train).to(device)
    d_unet = diffusers_unet()
    d_sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    d_ac = d_sched.alphas_cumprod.to(device)
    n_gz, n_df = (sum(p.numel() for p in m.parameters()) for m in (model, d_unet))
    assert abs(n_gz / n_df - 1) < 0.10, (n_gz, n_df)

    def diffusers_loss(x: torch.Tensor) -> torch.Tensor:
        t = torch.randint(0, 1000, (len(x),), device=device)
        noise = torch.randn_like(x)
        ab = d_ac[t].view(-1, 1, 1, 1)
        noisy = ab.sqrt() * x + (1 - ab).sqrt() * noise  # = d_sched.add_noise, kept on device
        return F.mse_loss(d_unet(noisy, t).sample.float(), noise)

    systems = {
        "genzoo": System("genzoo", model, lambda x: model.denoising_loss(x)["loss"], device),
        "diffusers": System("diffusers", d_unet, diffusers_loss, device),
    }
    params = f"{n_gz / 1e6:.2f}M vs {n_df / 1e6:.2f}M params"

    # -- training throughput, interleaved ---------------------------------------------------------------
    precisions = ["fp32", "bf16-mixed"] if gpu else ["fp32"]
    for prec in precisions:
        bf16 = prec == "bf16-mixed"

        def timed(s: System, bf16: bool = bf16) -> float:
            def one() -> None:
                s.step(batch_x(), bf16)
                sync(device)

            return throughput(one, batch, steps=t_steps, warmup=2)

        med = interleaved_medians({k: (lambda s=s: timed(s)) for k, s in systems.items()}, repeats=3)
        for k, v in med.items():
            res.add(
                "mnist5k-32px",
                k,
                "train_images_per_s",
                v,
                True,
                f"median of 3 interleaved runs x {t_steps} steps, batch {batch}, {prec}, {params}",
            )
    if not gpu:
        print("bf16-mixed not timed on this CPU: without AMX/AVX512-BF16 it runs ~15x slower than fp32")
    if args.throughput_only:
        return

    # -- same wall-clock budget, then classifier-FID -----------------------------------------------------
    # fresh weights so the throughput runs above do not count as training
    model = gz.create("ddpm", data=train).to(device)
    d_unet = diffusers_unet()
    systems = {
        "genzoo": System("genzoo", model, lambda x: model.denoising_loss(x)["loss"], device),
        "diffusers": System("diffusers", d_unet, diffusers_loss, device),
    }
    prec = "bf16-mixed" if gpu else "fp32"
    steps_done = {}
    for k, s in systems.items():
        torch.manual_seed(1)
        t0, n = time.time(), 0
        while time.time() - t0 < train_s:
            s.step(batch_x(), gpu)
            n += 1
        sync(device)
        steps_done[k] = n
    model.load_state_dict(systems["genzoo"].ema.state_dict())
    model.eval()
    d_ema = systems["diffusers"].ema.eval()
    real = test.images[:n_fid]
    sample_batch = 500 if gpu else 50
    torch.manual_seed(2)
    fakes = {
        "genzoo": genzoo_sample(model, n_fid, sample_batch, scheduler="ddim", steps=fid_steps),
        "diffusers": diffusers_sample(d_ema, n_fid, fid_steps, device, sample_batch),
    }
    for k, fake in fakes.items():
        m = sample_metrics(real, fake, "mnist5k", train, test, which=("fid", "precision", "recall"))
        budget = (
            f"{train_s}s wall-clock ({steps_done[k]} steps, batch {batch}, {prec}, EMA {EMA}); "
            f"{n_fid} samples, DDIM-{fid_steps}"
        )
        res.add("mnist5k-32px", k, "fid_classifier", m["fid_classifier"], False, budget)
        res.add("mnist5k-32px", k, "precision", m["precision"], True, budget)
        res.add("mnist5k-32px", k, "recall", m["recall"], True, budget)
        save_grid(fake[:64], RESULTS / f"diffusion_samples_{k}.png", nrow=8)
    floor = sample_metrics(real, train.images[:n_fid], "mnist5k", train, test, which=("fid",))
    res.add(
        "mnist5k-32px",
        "real-train-images",
        "fid_classifier",
        floor["fid_classifier"],
        False,
        f"{n_fid} training images vs test: the floor of this FID",
    )

    # -- FID against sampler and steps, one trained model -----------------------------------------------
    for name, steps in sweep:
        torch.manual_seed(3)
        t0 = time.time()
        fake = genzoo_sample(model, n_sweep, 1000 if gpu else 50, scheduler=name, steps=steps)
        secs = time.time() - t0
        m = sample_metrics(test.images[:n_sweep], fake, "mnist5k", train, test, which=("fid",))
        budget = f"genzoo model above, {n_sweep} samples, {steps} network evaluations"
        res.add(f"{name}-{steps}", "genzoo", "fid_classifier", m["fid_classifier"], False, budget)
        res.add(f"{name}-{steps}", "genzoo", "sample_seconds", secs, False, budget)
        if name == "dpm++" and steps == 10:
            save_grid(fake[:64], RESULTS / "diffusion_samples_dpm++10.png", nrow=8)

    # -- latent diffusion: a VAE, then diffusion over its 16-d latents -------------------------------------
    import tempfile

    vae = gz.create("vae", data=train, latent_dim=16, hidden=32).to(device)
    vae_sys = System("vae", vae, lambda x: vae.loss(((x + 1) / 2, None))["loss"], device)
    t0 = time.time()
    while time.time() - t0 < sr_s / 2:
        vae_sys.step(batch_x(), False)
    vae.load_state_dict(vae_sys.ema.state_dict())
    vae.eval()
    with tempfile.TemporaryDirectory() as tmp:
        gz.save(vae.cpu(), tmp)
        ldm = gz.create("ldm", data=train, latent_of=tmp).to(device)
    ldm.encode(train.images[:500])  # fixes the latent scale from real data before training
    ldm_sys = System("ldm", ldm, lambda x: ldm.loss(((x + 1) / 2, None))["loss"], device)
    t0 = time.time()
    while time.time() - t0 < sr_s / 2:
        ldm_sys.step(batch_x(), False)
    ldm.load_state_dict(ldm_sys.ema.state_dict())
    ldm.eval()
    budget = (
        f"VAE {sr_s / 2:.0f}s + latent MLP {sr_s / 2:.0f}s wall-clock; {n_sweep} samples, DDIM-{fid_steps}"
    )
    for k, fn in {
        "genzoo-ldm": lambda: ldm.sample(n_sweep, steps=fid_steps).cpu(),
        "genzoo-ddpm": lambda: genzoo_sample(model, n_sweep, sample_batch, steps=fid_steps),
    }.items():
        torch.manual_seed(6)
        fn()  # warm-up, so the timed run is not paying for first-call overheads
        sync(device)
        t0 = time.time()
        fake = fn()
        sync(device)
        secs = time.time() - t0
        fid = sample_metrics(test.images[:n_sweep], fake, "mnist5k", train, test, which=("fid",))[
            "fid_classifier"
        ]
        res.add("latent-vs-pixel", k, "sample_seconds", secs, False, budget)
        res.add("latent-vs-pixel", k, "fid_classifier", fid, False, budget)
        if k == "genzoo-ldm":
            save_grid(fake[:64], RESULTS / "diffusion_samples_ldm.png", nrow=8)

    # -- inpainting: RePaint with the same model vs mean fill and biharmonic ----------------------------
    images = test.images[:n_inp]
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10:22, 10:22] = 1  # a 12x12 hole over the centre of each digit
    torch.manual_seed(4)
    fills = {
        "genzoo-repaint": torch.cat(
            [
                inpaint(model, images[i : i + 500], mask, steps=inp_steps, jump=5, resample=5).cpu()
                for i in range(0, n_inp, 500)
            ]
        ),
        "mean-fill": mean_fill(images, mask),
        "biharmonic": biharmonic_fill(images, mask),
    }
    budget = f"{n_inp} test digits, 12x12 centre hole; RePaint {inp_steps} steps, jump 5, resample 5"
    for k, out in fills.items():
        res.add(
            "inpaint-mnist5k-32px", k, "psnr", psnr(out, images, mask), True, budget + "; hole pixels only"
        )
        res.add(
            "inpaint-mnist5k-32px", k, "ssim", ssim(out, images, mask), True, budget + "; hole pixels only"
        )
        fid = sample_metrics(images, out, "mnist5k", train, test, which=("fid",))["fid_classifier"]
        res.add("inpaint-mnist5k-32px", k, "fid_classifier", fid, False, budget + "; whole images")
    masked = images * (1 - mask) + 0.5 * mask
    save_grid(
        torch.cat([images[:8], masked[:8], *(v[:8] for v in fills.values())]),
        RESULTS / "diffusion_inpaint.png",
        nrow=8,
        scale=2,
    )

    # -- super-resolution x4 on held-out photos --------------------------------------------------------------
    patches = gz.data.load("photos", split="train", patch=32, n=512 if smoke else 8192)
    held = gz.data.load("photos", split="test", patch=32, n=8 if smoke else 256)
    sr = gz.create("sr3", data=patches, scale=4).to(device)
    sr_sys = System("sr3", sr, lambda x: sr.loss(((x + 1) / 2, None))["loss"], device)
    hr_all = (patches.images * 2 - 1).to(device)
    t0, n = time.time(), 0
    while time.time() - t0 < sr_s:
        sr_sys.step(hr_all[torch.randint(0, len(hr_all), (batch,), device=device)], gpu)
        n += 1
    sr.load_state_dict(sr_sys.ema.state_dict())
    sr.eval()
    hr = held.images
    low = downscale(hr, 4)
    torch.manual_seed(5)
    outs = {
        "genzoo-sr3": sr.upscale(low.to(device), steps=sr_steps).cpu(),
        "bicubic": bicubic_upscale(low, 4),
    }
    budget = (
        f"8->32 px, {len(hr)} patches of the held-out photos (china, flower); sr3 {sr_s}s wall-clock "
        f"({n} steps, batch {batch}), DDIM-{sr_steps}, one sample"
    )
    for k, out in outs.items():
        res.add("superres-x4-photos", k, "psnr", psnr(out, hr), True, budget)
        res.add("superres-x4-photos", k, "ssim", ssim(out, hr), True, budget)
    nearest = F.interpolate(low, scale_factor=4, mode="nearest")
    save_grid(
        torch.cat([nearest[:8], outs["bicubic"][:8], outs["genzoo-sr3"][:8], hr[:8]]),
        RESULTS / "diffusion_superres.png",
        nrow=8,
        scale=2,
    )
    print(f"total wall time {time.time() - t_all:.0f}s")


if __name__ == "__main__":
    main()
