"""Diffusion benchmark at the issue's scale on one CUDA GPU (the CPU run, diffusion.py, is too small for it).

    PYTHONPATH=src python benchmarks/diffusion_h100.py --budget-s 75 --total-s 400   # ~6.5 min, one H100
    PYTHONPATH=src python benchmarks/diffusion_h100.py --device cpu --smoke --out diffusion_h100_smoke

Writes benchmarks/results/<--out>.json (rewritten after every row, so a run cut short keeps its rows) and
PNG grids beside it. Parts, in order, each skipped when --total-s would be exceeded:
A. genzoo vs diffusers on mnist5k padded to 32x32: the same U-Net shape (widths 64/128/128, two residual
   blocks per level, 4-head attention at 8x8; parameters within 10%), batch 128, AdamW, lr, EMA and data.
   Training images/s in fp32 and bf16-mixed, each layout (default and channels_last), medians of interleaved
   repeats; then each trains --budget-s seconds (bf16-mixed) from the same seed and draws 1000 samples with
   its own library's DDIM-50 for classifier-FID/precision/recall against the 1000 test digits.
B. genzoo's model from A with every sampler: DDPM-1000, DDIM 50/20/10, DPM-Solver++(2M) 20/10/5; FID of
   1000 samples and sampling seconds each.
C. latent vs pixel: a VAE (16-d latent, small KL weight) and a latent denoiser, trained --budget-s/2.5
   seconds each; the sampling seconds each model needs to reach the same FID (diffusion.matched_quality).
D. torch.compile'd training of both (bf16-mixed): compile seconds and images/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402
from diffusion import (  # noqa: E402
    System,
    diffusers_sample,
    diffusers_unet,
    genzoo_sample,
    matched_quality,
    step_rates,
)

import genzoo as gz  # noqa: E402
from genzoo.metrics.features import feature_net_for  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

LR, EMA, WARMUP = 5e-4, 0.998, 200  # a 7M-parameter U-Net wants a gentler lr than the CPU run's 0.3M one
SWEEP = [("ddim", 50), ("ddim", 20), ("ddim", 10), ("dpm++", 20), ("dpm++", 10), ("dpm++", 5)]
LDM_SWEEP = [("ddim", 50), ("dpm++", 20), ("dpm++", 10), ("dpm++", 5)]


class Clock:
    """Wall time since start, and whether `need` more seconds fit in the run's total."""

    def __init__(self, total: float) -> None:
        self.t0, self.total = time.time(), total

    def left(self) -> float:
        return self.total - (time.time() - self.t0)

    def fits(self, need: float, what: str) -> bool:
        ok = self.left() >= need
        if not ok:
            print(f"[skip] {what}: needs ~{need:.0f}s, {self.left():.0f}s left of --total-s", flush=True)
        return ok


def warmup_lr(s: System, steps: int) -> None:
    """Linear lr warm-up over `steps` optimizer steps (same for both systems)."""
    sched = torch.optim.lr_scheduler.LambdaLR(s.opt, lambda i: min(1.0, (i + 1) / steps))
    step = s.step

    def stepped(x: torch.Tensor, bf16: bool) -> None:
        step(x, bf16)
        sched.step()

    s.step = stepped  # type: ignore[method-assign]


def section(name: str, fn: Callable[[], None]) -> None:
    """Run one part; a failure is printed and the next part still runs (rows already written stay)."""
    t = time.time()
    try:
        fn()
    except Exception:  # noqa: BLE001 - one failing part must not lose the others on a one-shot GPU run
        traceback.print_exc()
        print(f"[{name}] FAILED after {time.time() - t:.0f}s", flush=True)
        return
    print(f"[{name}] done in {time.time() - t:.0f}s", flush=True)


def main() -> None:  # noqa: PLR0915 - one script, parts in order
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget-s", type=float, default=75.0, help="training seconds per system in part A")
    ap.add_argument("--total-s", type=float, default=400.0, help="skip parts that would end after this")
    ap.add_argument("--out", default="diffusion_h100", help="results name: benchmarks/results/OUT.json")
    ap.add_argument("--smoke", action="store_true", help="tiny U-Nets and sample counts (CPU check)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = Clock(args.total_s)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    width, blocks, batch, n = (16, 1, 8, 16) if args.smoke else (64, 2, 128, 1000)
    ddpm_steps = 100 if args.smoke else 1000
    res = Results(args.out)
    torch.manual_seed(0)
    train = gz.data.load("mnist5k", split="train", size=32)
    test = gz.data.load("mnist5k", split="test", size=32)
    real = test.images[:n]
    data = (train.images * 2 - 1).to(device)
    t = time.time()
    feature_net_for("mnist5k", train, test)  # trained once (CPU) and cached: not inside any timed part
    print(f"feature net ready in {time.time() - t:.0f}s", flush=True)
    from diffusers import DDPMScheduler

    acp = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").alphas_cumprod.to(device)

    def batch_x() -> torch.Tensor:
        return data[torch.randint(0, len(data), (batch,), device=device)]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def make_systems(channels_last: bool = False) -> tuple[dict[str, System], torch.nn.Module, torch.nn.Module]:
        model = gz.create("ddpm", data=train, base_channels=width, num_res_blocks=blocks).to(device)
        unet = diffusers_unet(width, blocks).to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            model, unet = model.to(memory_format=fmt), unet.to(memory_format=fmt)

        def genzoo_loss(x: torch.Tensor) -> torch.Tensor:
            return model.diffusion_loss(x.contiguous(memory_format=fmt))["loss"]

        def diffusers_loss(x: torch.Tensor) -> torch.Tensor:
            tt = torch.randint(0, 1000, (len(x),), device=device)
            noise = torch.randn_like(x)
            ab = acp[tt].view(-1, 1, 1, 1)
            noisy = (ab.sqrt() * x + (1 - ab).sqrt() * noise).contiguous(memory_format=fmt)
            return F.mse_loss(unet(noisy, tt).sample.float(), noise)

        systems = {
            "genzoo": System("genzoo", model, genzoo_loss, device, LR, EMA),
            "diffusers": System("diffusers", unet, diffusers_loss, device, LR, EMA),
        }
        return systems, model, unet

    systems, model, unet = make_systems()
    n_gz, n_df = (sum(p.numel() for p in m.parameters()) for m in (model, unet))
    assert abs(n_gz / n_df - 1) < 0.10, (n_gz, n_df)
    shape = f"U-Net {width}/{2 * width}/{2 * width}, {blocks} res blocks/level, attn 8x8"
    params = f"{shape}, {n_gz / 1e6:.2f}M vs {n_df / 1e6:.2f}M params"
    tf32 = "; fp32 convs may use TF32 (cuDNN default)" if cuda else ""

    # -- A1: throughput, interleaved ---------------------------------------------------------------------
    def part_throughput() -> None:
        steps, warm = (20, 5) if not args.smoke else (1, 1)
        for prec in ("fp32", "bf16-mixed"):
            bf16 = prec == "bf16-mixed"
            if bf16 and not cuda:
                print("bf16-mixed not timed on CPU (no fast bf16 on AVX2)")
                continue
            for layout in ("default", "channels_last"):
                sys_, _, _ = make_systems(layout == "channels_last")
                med = step_rates(sys_, batch_x, bf16, device, batch, steps, warmup=warm, repeats=3)
                for k, v in med.items():
                    name = k if layout == "default" else f"{k}-channels_last"
                    res.add("mnist5k-32px", name, "train_images_per_s", v, True,
                            f"median of 3 interleaved runs x {steps} steps, batch {batch}, {prec}{tf32}, {params}")
                del sys_

    section("A1 throughput", part_throughput)

    # -- A2: same wall-clock budget, then FID of 1000 samples --------------------------------------------
    trained: dict[str, float] = {}

    def part_budget() -> None:
        nonlocal systems, model, unet
        systems, model, unet = make_systems()
        for k, s in systems.items():
            warmup_lr(s, WARMUP)
            torch.manual_seed(1)
            t0, steps = time.time(), 0
            while time.time() - t0 < args.budget_s:
                s.step(batch_x(), cuda)
                steps += 1
            sync()
            trained[k] = steps
            s.net.load_state_dict(s.ema.state_dict())
            s.net.eval()
        prec = "bf16-mixed" if cuda else "fp32"
        for k in systems:
            torch.manual_seed(2)
            t0 = time.time()
            if k == "genzoo":
                fake = genzoo_sample(model, n, 500, scheduler="ddim", steps=50)
            else:
                fake = diffusers_sample(unet, n, 50, device, 500)
            secs = time.time() - t0
            m = sample_metrics(real, fake, "mnist5k", train, test, which=("fid", "precision", "recall"))
            budget = (f"{args.budget_s:.0f}s wall-clock each ({trained[k]} steps, batch {batch}, {prec}, AdamW "
                      f"lr {LR} ({WARMUP}-step warm-up), EMA {EMA}); {n} samples, own DDIM-50; {params}")
            for metric, hib in (("fid_classifier", False), ("precision", True), ("recall", True)):
                res.add("mnist5k-32px", k, metric, m[metric], hib, budget)
            res.add("mnist5k-32px", k, "train_steps_in_budget", trained[k], True, budget)
            res.add("mnist5k-32px", k, "sample_seconds", secs, False, budget)
            save_grid(fake[:64], RESULTS / f"{args.out}_samples_{k}.png", nrow=8)
        floor = sample_metrics(real, train.images[:n], "mnist5k", train, test, which=("fid",))
        res.add("mnist5k-32px", "real-train-images", "fid_classifier", floor["fid_classifier"], False,
                f"{n} training images vs {n} test images: this FID's floor at this sample size")

    if clock.fits(2 * args.budget_s + 30, "A2 budget training"):
        section("A2 budget", part_budget)

    # -- B: FID against sampler and number of network evaluations (genzoo's model from A2) --------------
    pixel_curve: list[tuple[str, float, float]] = []

    def sweep_point(name: str, steps: int) -> float:
        torch.manual_seed(3)
        sync()
        t0 = time.time()
        fake = genzoo_sample(model, n, 500, scheduler=name, steps=steps)
        secs = time.time() - t0
        fid = sample_metrics(real, fake, "mnist5k", train, test, which=("fid",))["fid_classifier"]
        budget = (f"genzoo model of mnist5k-32px ({args.budget_s:.0f}s, {trained['genzoo']} steps); "
                  f"{n} samples, {steps} network evaluations each")
        res.add(f"mnist5k-32px-{name}-{steps}", "genzoo", "fid_classifier", fid, False, budget)
        res.add(f"mnist5k-32px-{name}-{steps}", "genzoo", "sample_seconds", secs, False, budget)
        pixel_curve.append((f"{name}-{steps}", fid, secs))
        if name in ("ddpm", "dpm++") and steps in (ddpm_steps, 20):
            save_grid(fake[:64], RESULTS / f"{args.out}_{name}{steps}.png", nrow=8)
        return secs

    def part_sweep() -> None:
        per_call = 0.0
        for name, steps in SWEEP:
            per_call = max(per_call, sweep_point(name, steps) / steps)
        if clock.fits(per_call * ddpm_steps + 20, f"DDPM-{ddpm_steps}"):
            sweep_point("ddpm", ddpm_steps)

    if "genzoo" in trained:
        section("B sampler sweep", part_sweep)

    # -- C: latent vs pixel diffusion at matched quality ---------------------------------------------------
    def part_latent() -> None:
        part_s = args.budget_s / 2.5
        vae = gz.create("vae", data=train, latent_dim=16, hidden=64, beta=0.05).to(device)
        vae_sys = System("vae", vae, lambda x: vae.loss(((x + 1) / 2, None))["loss"], device, 1e-3, EMA)
        t0, v_steps = time.time(), 0
        while time.time() - t0 < part_s:
            vae_sys.step(batch_x(), False)
            v_steps += 1
        vae.load_state_dict(vae_sys.ema.state_dict())
        with tempfile.TemporaryDirectory() as tmp:
            gz.save(vae.cpu(), tmp)
            ldm = gz.create("ldm", data=train, latent_of=tmp, hidden=512, depth=4).to(device)
        ldm.encode(train.images[:2000])  # fixes the latent scale from real data before training
        ldm_sys = System("ldm", ldm, lambda x: ldm.loss(((x + 1) / 2, None))["loss"], device, 1e-3, EMA)
        t0, l_steps = time.time(), 0
        while time.time() - t0 < part_s:
            ldm_sys.step(batch_x(), False)
            l_steps += 1
        ldm.load_state_dict(ldm_sys.ema.state_dict())
        ldm.eval()
        curve = []
        for name, steps in LDM_SWEEP:
            torch.manual_seed(6)
            sync()
            t0 = time.time()
            fake = torch.cat([ldm.sample(min(500, n - s), scheduler=name, steps=steps).cpu()
                              for s in range(0, n, 500)])
            secs = time.time() - t0
            fid = sample_metrics(real, fake, "mnist5k", train, test, which=("fid",))["fid_classifier"]
            curve.append((f"{name}-{steps}", fid, secs))
            res.add(f"mnist5k-32px-latent-{name}-{steps}", "genzoo-ldm", "fid_classifier", fid, False,
                    f"VAE {part_s:.0f}s ({v_steps} steps) + latent MLP {part_s:.0f}s ({l_steps} steps); {n} samples")
            res.add(f"mnist5k-32px-latent-{name}-{steps}", "genzoo-ldm", "sample_seconds", secs, False,
                    f"{n} samples, {steps} network evaluations + one decode")
            if name == "dpm++" and steps == 20:
                save_grid(fake[:64], RESULTS / f"{args.out}_ldm.png", nrow=8)
        matched_quality(res, "mnist5k-32px-latent-vs-pixel", {"genzoo-ldm": curve, "genzoo-ddpm": pixel_curve},
                        f"mnist5k 32x32, {n} samples; ldm: VAE {part_s:.0f}s + MLP {part_s:.0f}s; "
                        f"pixel U-Net: {args.budget_s:.0f}s (part A)")

    if pixel_curve and clock.fits(2 * args.budget_s / 2.5 + 30, "C latent vs pixel"):
        section("C latent vs pixel", part_latent)

    # -- D: torch.compile ---------------------------------------------------------------------------------
    def part_compile() -> None:
        bf16 = cuda
        sys_, m, u = make_systems()
        steps = 20 if not args.smoke else 2
        for k, s in sys_.items():
            net = m.net if k == "genzoo" else u
            # compile the forward method in place: parameters, state_dict and the EMA copy stay as they are
            net.forward = torch.compile(net.forward)  # type: ignore[method-assign]
            sync()
            t0 = time.time()
            for _ in range(3):
                s.step(batch_x(), bf16)
            sync()
            res.add("mnist5k-32px-compiled", k, "compile_seconds", time.time() - t0, False,
                    f"torch.compile default mode: first 3 steps incl. compilation, batch {batch}")
        med = step_rates(sys_, batch_x, bf16, device, batch, steps, warmup=2, repeats=3)
        for k, v in med.items():
            res.add("mnist5k-32px-compiled", k, "train_images_per_s", v, True,
                    f"torch.compile default mode; median of 3 interleaved runs x {steps} steps, batch {batch}, "
                    f"{'bf16-mixed' if bf16 else 'fp32'}, {params}")

    if clock.fits(120 if not args.smoke else 0, "D torch.compile"):
        section("D compile", part_compile)
    print(f"total wall time {time.time() - clock.t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
