"""Diffusion benchmark: genzoo's DDPM side by side with diffusers, samplers, super-resolution, inpainting.

    PYTHONPATH=src python benchmarks/diffusion.py --threads 1   # ~15 min on a (shared) 2-core CPU
    PYTHONPATH=src python benchmarks/diffusion.py --parts sweep,latent --threads 1   # rerun some parts;
        the JSON keeps the other parts' rows
    PYTHONPATH=src python benchmarks/diffusion.py --smoke       # seconds-long budgets: does it run?
    PYTHONPATH=src python benchmarks/diffusion.py --masked-inpainting --threads 1   # ~3 min: appends the
        mask-conditioned `inpaint_ddpm` rows (system genzoo-masked) to diffusion.json, nothing else rerun

Parts: `compare` (mnist5k padded to 32x32; same U-Net size (+-10% parameters), batch, optimizer, lr and EMA
for genzoo and diffusers; each trains in its own loop for the same wall-clock budget and samples with its
own DDIM; throughput is the median of interleaved repeats A, B, A, B, ...), `sweep` (one genzoo model on
8x8 `digits` sampled with DDPM-1000, DDIM 50/20/10 and DPM-Solver++ 20/10/5), `latent` (latent diffusion
vs that pixel model: sampling seconds each needs for the same FID), `inpaint`, `superres`. The budgets
are sized for a CPU (a 32x32 model cannot be trained to a useful FID in minutes on two cores); the same
comparisons at the issue's scale are in diffusion_h100.py. Writes benchmarks/results/diffusion.json and PNGs.
"""

from __future__ import annotations

import argparse
import copy
import json
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
from genzoo.nn.resample import bicubic_upscale, downscale  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

LR, EMA = 1e-3, 0.995


WIDTH = 16  # base channels of both U-Nets: 16/32/32, small enough to train on a CPU


def diffusers_unet(width: int = WIDTH, blocks: int = 1) -> torch.nn.Module:
    from diffusers import UNet2DModel

    # mirrors genzoo's U-Net: widths w/2w/2w, `blocks` res blocks per level, attention (4 heads) at 8x8
    return UNet2DModel(
        sample_size=32,
        in_channels=1,
        out_channels=1,
        block_out_channels=(width, 2 * width, 2 * width),
        layers_per_block=blocks,
        norm_num_groups=8,
        attention_head_dim=width // 2,
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
        lr: float = LR,
        ema: float = EMA,
    ) -> None:
        self.name, self.net, self.loss_fn, self.device = name, net.to(device), loss_fn, device
        self.opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
        self.ema = copy.deepcopy(net).requires_grad_(False)
        self.decay = ema

    def step(self, x: torch.Tensor, bf16: bool) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = self.loss_fn(x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.net.parameters()), 1 - self.decay)
            for eb, mb in zip(self.ema.buffers(), self.net.buffers(), strict=True):
                eb.copy_(mb)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_rates(systems: dict[str, System], batch_x: Callable[[], torch.Tensor], bf16: bool, device: torch.device,
               batch: int, steps: int, warmup: int, repeats: int) -> dict[str, float]:
    """Median training images/s of each system, their timing runs interleaved (A, B, A, B, ...).

    Each step is synchronised on GPUs, so the clock sees the work and not just the kernel launches.
    """
    def timed(s: System) -> float:
        def one() -> None:
            s.step(batch_x(), bf16)
            sync(device)

        return throughput(one, batch, steps=steps, warmup=warmup)

    return interleaved_medians({k: (lambda s=s: timed(s)) for k, s in systems.items()}, repeats=repeats)


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


def matched_quality(
    res: Results, task: str, curves: dict[str, list[tuple[str, float, float]]], budget: str, tol: float = 0.05
) -> None:
    """Sampling time each system needs to reach the same classifier-FID ("speed-up at matched quality").

    `curves[system]` lists (sampler setting, FID, seconds) points. The target is the worst of the systems'
    best FIDs (the best quality all of them reach) plus `tol` for the FID's sampling noise; each system is
    charged its fastest setting at or below the target. The first system's speed-up over the second is
    the second's seconds over the first's.
    """
    target = max(min(fid for _, fid, _ in pts) for pts in curves.values()) * (1 + tol)
    secs = {}
    for system, pts in curves.items():
        label, fid, s = min((p for p in pts if p[1] <= target), key=lambda p: p[2])
        secs[system] = s
        note = f"{budget}; target FID <= {target:.2f} (worst best-FID + {tol:.0%}); fastest setting: {label}"
        res.add(task, system, "sample_seconds_at_matched_fid", s, False, note)
        res.add(task, system, "fid_classifier_at_matched", fid, False, note)
    first, second = list(secs)
    res.add(task, first, f"speedup_over_{second}_at_matched_fid", secs[second] / secs[first], True,
            f"{budget}; {second} seconds / {first} seconds, each at its fastest setting reaching FID {target:.2f}")


CENTRE_HOLE = "4x4 centre hole"


def centre_hole() -> torch.Tensor:
    """The inpainting task's mask: a 4x4 hole over the centre of an 8x8 digit (1 = fill)."""
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    return mask


def masked_inpainting(smoke: bool, train_s: float = 75.0, n_inp: int = 100, steps: int = 50) -> None:
    """Train `inpaint_ddpm` on digits (same U-Net width, batch, optimizer and EMA as the RePaint model) and
    append its rows for the inpainting task to diffusion.json, replacing earlier genzoo-masked rows only."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if smoke:
        train_s, n_inp, steps = 2, 4, 5
    dtrain, dtest = gz.data.load("digits", split="train"), gz.data.load("digits", split="test")
    ddata = (dtrain.images * 2 - 1).to(device)
    torch.manual_seed(0)
    model = gz.create("inpaint_ddpm", data=dtrain, base_channels=WIDTH).to(device)
    sys_ = System("genzoo-masked", model, lambda x: model.loss(((x + 1) / 2, None))["loss"], device)
    t0, n = time.time(), 0
    while time.time() - t0 < train_s:
        sys_.step(ddata[torch.randint(0, len(ddata), (32,), device=device)], False)
        n += 1
    model.load_state_dict(sys_.ema.state_dict())
    model.eval()
    images, mask = dtest.images[:n_inp], centre_hole()
    torch.manual_seed(4)
    t0 = time.time()
    out = inpaint(model, images, mask, steps=steps).cpu()
    secs = time.time() - t0
    budget = (
        f"{n_inp} test digits (8x8), {CENTRE_HOLE}; inpaint_ddpm trained {train_s:.0f}s ({n} steps, batch 32) "
        f"on random rectangle/stroke masks, one DDIM-{steps} pass ({steps} model calls vs RePaint's ~250)"
    )
    rows = [
        ("psnr", psnr(out, images, mask), True, budget + "; hole pixels only"),
        ("ssim", ssim(out, images, mask), True, budget + "; hole pixels only"),
        ("fid_classifier", sample_metrics(images, out, "digits", dtrain, dtest, which=("fid",))[
            "fid_classifier"], False, budget + "; whole images"),
        ("inpaint_seconds", secs, False, budget),
    ]
    path = RESULTS / ("diffusion_smoke.json" if smoke else "diffusion.json")
    if not path.is_file():
        if not smoke:
            raise SystemExit(f"{path} does not exist: run the whole benchmark first")
        Results("diffusion_smoke").write()
    doc = json.loads(path.read_text())
    doc["rows"] = [r for r in doc["rows"] if r["system"] != "genzoo-masked"]
    for metric, value, higher, b in rows:
        row = {"task": "inpaint-digits", "system": "genzoo-masked", "metric": metric, "value": float(value),
               "higher_is_better": higher, "budget": b}
        doc["rows"].append(row)
        print(f"[diffusion] inpaint-digits genzoo-masked {metric:<16} {float(value):.4g}", flush=True)
    path.write_text(json.dumps(doc, indent=1))
    masked = images * (1 - mask) + 0.5 * mask
    save_grid(torch.cat([images[:8], masked[:8], out[:8]]), RESULTS / "diffusion_inpaint_masked.png", 8, 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="seconds-long budgets: check that the script runs")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a loaded machine)")
    ap.add_argument(
        "--masked-inpainting", action="store_true", help="only append the inpaint_ddpm rows to the JSON"
    )
    ap.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)}; rows of the other parts in the JSON are kept",
    )
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS) or ({"latent", "inpaint"} & parts and "sweep" not in parts):
        raise SystemExit(f"--parts: choose from {PARTS}; latent and inpaint need sweep (its digits model)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.masked_inpainting:
        masked_inpainting(args.smoke)
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    smoke = args.smoke
    # training budgets: seconds for genzoo/diffusers and SR3; optimizer steps for the digits model, VAE, LDM
    train_s, sr_s = (2, 2) if smoke else (75, 60)
    digits_steps, vae_steps, ldm_steps = (5, 5, 5) if smoke else (600, 1500, 1500)
    n_fid, n_sweep, n_inp, t_steps = (8, 8, 4, 1) if smoke else (100, 200, 100, 4)
    sweep = [("ddim", 50), ("ddim", 20), ("ddim", 10), ("dpm++", 20), ("dpm++", 10), ("dpm++", 5), ("ddpm", 1000)]
    ldm_sweep = [("ddim", 50), ("dpm++", 20), ("dpm++", 10), ("dpm++", 5)]
    if smoke:
        sweep, ldm_sweep = [("ddim", 5), ("dpm++", 5), ("ddpm", 10)], [("ddim", 5), ("dpm++", 3)]
    fid_steps, inp_steps, sr_steps = (5, 5, 3) if smoke else (20, 50, 20)
    batch = 128 if gpu else 32
    prec = "bf16-mixed" if gpu else "fp32"
    res = Results("diffusion_smoke" if smoke else "diffusion")
    res.rows = kept_rows(RESULTS / f"{res.name}.json", parts)
    t_all = time.time()
    torch.manual_seed(0)

    train = gz.data.load("mnist5k", split="train", size=32)
    test = gz.data.load("mnist5k", split="test", size=32)
    data = (train.images * 2 - 1).to(device)

    def batch_x(d: torch.Tensor = data) -> torch.Tensor:
        return d[torch.randint(0, len(d), (batch,), device=device)]

    def train_for(s: System, seconds: float, d: torch.Tensor = data) -> int:
        t0, n = time.time(), 0
        while time.time() - t0 < seconds:
            s.step(batch_x(d), gpu)
            n += 1
        sync(device)
        s.net.load_state_dict(s.ema.state_dict())
        s.net.eval()
        return n

    def train_steps(s: System, steps: int, d: torch.Tensor) -> float:
        """Train a fixed number of steps (reproducible on a loaded machine); returns the seconds taken."""
        t0 = time.time()
        for _ in range(steps):
            s.step(batch_x(d), gpu)
        sync(device)
        s.net.load_state_dict(s.ema.state_dict())
        s.net.eval()
        return time.time() - t0

    if "compare" in parts:
        compare(res, train, test, data, device, batch_x, train_for, n_fid, fid_steps, t_steps, train_s, prec)
    if "sweep" in parts:
        dmodel, dtrain, dtest, pixel_curve = sweep_digits(res, device, train_steps, digits_steps, n_sweep, sweep)
    if "latent" in parts:
        latent_digits(res, device, train_steps, dtrain, pixel_curve, vae_steps, ldm_steps, n_sweep, ldm_sweep,
                      digits_steps)
    if "inpaint" in parts:
        repaint_digits(res, dmodel, dtrain, dtest, n_inp, inp_steps)
    if "superres" in parts:
        superres(res, device, train_for, sr_s, sr_steps, batch, smoke)
    print(f"total wall time {time.time() - t_all:.0f}s")


PARTS = ("compare", "sweep", "latent", "inpaint", "superres")


def task_part(task: str) -> str:
    """Which part of the benchmark writes rows of `task`."""
    if task.startswith("mnist5k-32px"):
        return "compare"
    if task.startswith("digits-latent"):
        return "latent"
    if task.startswith("digits-"):
        return "sweep"
    return "inpaint" if task.startswith("inpaint") else "superres"


def kept_rows(path: Path, parts: set[str]) -> list[dict]:
    """Rows of the existing JSON that this run does not rewrite (other parts; --masked-inpainting's rows)."""
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [r for r in rows if task_part(r["task"]) not in parts or r["system"] == "genzoo-masked"]


def compare(res: Results, train, test, data, device, batch_x, train_for, n_fid: int, fid_steps: int,  # noqa: ANN001
            t_steps: int, train_s: float, prec: str) -> None:
    """genzoo vs diffusers on mnist5k-32px: interleaved training throughput, then FID after equal time."""
    from diffusers import DDPMScheduler

    gpu = device.type == "cuda"
    batch = len(batch_x())
    d_ac = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").alphas_cumprod.to(device)

    def make_systems() -> tuple[dict[str, System], torch.nn.Module, torch.nn.Module]:
        model = gz.create("ddpm", data=train, base_channels=WIDTH).to(device)
        unet = diffusers_unet()

        def diffusers_loss(x: torch.Tensor) -> torch.Tensor:
            t = torch.randint(0, 1000, (len(x),), device=device)
            noise = torch.randn_like(x)
            ab = d_ac[t].view(-1, 1, 1, 1)
            noisy = ab.sqrt() * x + (1 - ab).sqrt() * noise  # = DDPMScheduler.add_noise, kept on device
            return F.mse_loss(unet(noisy, t).sample.float(), noise)

        systems = {
            "genzoo": System("genzoo", model, lambda x: model.diffusion_loss(x)["loss"], device),
            "diffusers": System("diffusers", unet, diffusers_loss, device),
        }
        return systems, model, unet

    systems, model, d_unet = make_systems()
    n_gz, n_df = (sum(p.numel() for p in m.parameters()) for m in (model, d_unet))
    assert abs(n_gz / n_df - 1) < 0.10, (n_gz, n_df)
    params = f"{n_gz / 1e6:.3f}M vs {n_df / 1e6:.3f}M params"

    # -- training throughput, interleaved ----------------------------------------------------------------
    for p in ["fp32", "bf16-mixed"] if gpu else ["fp32"]:
        med = step_rates(systems, batch_x, p == "bf16-mixed", device, batch, t_steps, warmup=1, repeats=5)
        for k, v in med.items():
            res.add("mnist5k-32px", k, "train_images_per_s", v, True,
                    f"median of 5 interleaved runs x {t_steps} steps, batch {batch}, {p}, "
                    f"{torch.get_num_threads()} thread(s), {params}")
    if not gpu:
        print("bf16-mixed not timed: without AMX/AVX512-BF16 this CPU runs it ~15x slower than fp32")

    # -- same wall-clock budget, then classifier-FID (fresh weights: the timing steps do not count) ------
    systems, model, d_unet = make_systems()
    steps_done = {}
    for k, s in systems.items():
        torch.manual_seed(1)
        steps_done[k] = train_for(s, train_s)
    real = test.images[:n_fid]
    torch.manual_seed(2)
    fakes = {
        "genzoo": genzoo_sample(model, n_fid, 100, scheduler="ddim", steps=fid_steps),
        "diffusers": diffusers_sample(d_unet, n_fid, fid_steps, device, 100),
    }
    for k, fake in fakes.items():
        m = sample_metrics(real, fake, "mnist5k", train, test, which=("fid", "precision", "recall"))
        budget = (f"{train_s}s wall-clock each ({steps_done[k]} steps, batch {batch}, {prec}, EMA {EMA}); "
                  f"{n_fid} samples, DDIM-{fid_steps}")
        for metric, hib in (("fid_classifier", False), ("precision", True), ("recall", True)):
            res.add("mnist5k-32px", k, metric, m[metric], hib, budget)
        save_grid(fake[:64], RESULTS / f"diffusion_samples_{k}.png", nrow=8)
    floor = sample_metrics(real, train.images[:n_fid], "mnist5k", train, test, which=("fid",))
    res.add("mnist5k-32px", "real-train-images", "fid_classifier", floor["fid_classifier"], False,
            f"{n_fid} training images vs {n_fid} test images: this FID's floor at this sample size")


def sweep_digits(res: Results, device, train_steps, digits_steps: int, n_sweep: int,  # noqa: ANN001
                 sweep: list[tuple[str, int]]):  # noqa: ANN201
    """FID against sampler and number of network calls, one genzoo model on 8x8 digits (incl. DDPM-1000)."""
    dtrain, dtest = gz.data.load("digits", split="train"), gz.data.load("digits", split="test")
    ddata = (dtrain.images * 2 - 1).to(device)
    torch.manual_seed(3)
    dmodel = gz.create("ddpm", data=dtrain, base_channels=WIDTH).to(device)
    dsys = System("genzoo", dmodel, lambda x: dmodel.diffusion_loss(x)["loss"], device)
    secs_train = train_steps(dsys, digits_steps, ddata)
    dreal = dtest.images[:n_sweep]
    curve = []
    for name, steps in sweep:
        torch.manual_seed(3)
        t0 = time.time()
        fake = dmodel.sample(n_sweep, scheduler=name, steps=steps).cpu()
        secs = time.time() - t0
        fid = sample_metrics(dreal, fake, "digits", dtrain, dtest, which=("fid",))["fid_classifier"]
        budget = (f"digits 8x8, {digits_steps} training steps ({secs_train:.0f}s); {n_sweep} samples, "
                  f"{steps} model calls")
        res.add(f"digits-{name}-{steps}", "genzoo", "fid_classifier", fid, False, budget)
        res.add(f"digits-{name}-{steps}", "genzoo", "sample_seconds", secs, False, budget)
        curve.append((f"{name}-{steps}", fid, secs))
        if name == "dpm++" and steps == 10:
            save_grid(fake[:64], RESULTS / "diffusion_samples_digits_dpm++10.png", nrow=8, scale=3)
    floor = sample_metrics(dreal, dtrain.images[:n_sweep], "digits", dtrain, dtest, which=("fid",))
    res.add("digits-real", "real-train-images", "fid_classifier", floor["fid_classifier"], False,
            f"{n_sweep} training digits vs test: the floor")
    return dmodel, dtrain, dtest, curve


def latent_digits(res: Results, device, train_steps, dtrain, pixel_curve, vae_steps: int,  # noqa: ANN001
                  ldm_steps: int, n_sweep: int, ldm_sweep: list[tuple[str, int]], digits_steps: int) -> None:
    """Latent diffusion (a VAE with a small KL weight, then an MLP denoiser on its 8-d latents) against the
    pixel U-Net of `sweep_digits`: sampling seconds each needs to reach the same FID."""
    import tempfile

    ddata = (dtrain.images * 2 - 1).to(device)
    dtest = gz.data.load("digits", split="test")
    torch.manual_seed(5)
    vae = gz.create("vae", data=dtrain, latent_dim=8, hidden=32, beta=0.05).to(device)
    vae_sys = System("vae", vae, lambda x: vae.loss(((x + 1) / 2, None))["loss"], device)
    vae_s = train_steps(vae_sys, vae_steps, ddata)
    with tempfile.TemporaryDirectory() as tmp:
        gz.save(vae.cpu(), tmp)
        ldm = gz.create("ldm", data=dtrain, latent_of=tmp, hidden=256, depth=3).to(device)
    ldm.encode(dtrain.images)  # fixes the latent scale from real data before training
    ldm_sys = System("ldm", ldm, lambda x: ldm.loss(((x + 1) / 2, None))["loss"], device)
    ldm_s = train_steps(ldm_sys, ldm_steps, ddata)
    dreal = dtest.images[:n_sweep]
    trained = f"VAE (beta 0.05) {vae_steps} steps ({vae_s:.0f}s) + latent MLP {ldm_steps} steps ({ldm_s:.0f}s)"
    curve = []
    for name, steps in ldm_sweep:
        torch.manual_seed(6)
        t0 = time.time()
        fake = ldm.sample(n_sweep, scheduler=name, steps=steps).cpu()
        secs = time.time() - t0
        fid = sample_metrics(dreal, fake, "digits", dtrain, dtest, which=("fid",))["fid_classifier"]
        budget = f"digits; {trained}; {n_sweep} samples, {steps} model calls + one decode"
        res.add(f"digits-latent-{name}-{steps}", "genzoo-ldm", "fid_classifier", fid, False, budget)
        res.add(f"digits-latent-{name}-{steps}", "genzoo-ldm", "sample_seconds", secs, False, budget)
        curve.append((f"{name}-{steps}", fid, secs))
    matched_quality(res, "digits-latent-vs-pixel", {"genzoo-ldm": curve, "genzoo-ddpm": pixel_curve},
                    f"digits, {n_sweep} samples; ldm: {trained}; pixel U-Net: {digits_steps} steps")


def repaint_digits(res: Results, dmodel, dtrain, dtest, n_inp: int, inp_steps: int) -> None:  # noqa: ANN001
    """Inpainting: RePaint with the digits model vs mean fill and biharmonic."""
    images, mask = dtest.images[:n_inp], centre_hole()
    torch.manual_seed(4)
    fills = {
        "genzoo-repaint": inpaint(dmodel, images, mask, steps=inp_steps, jump=5, resample=5).cpu(),
        "mean-fill": mean_fill(images, mask),
        "biharmonic": biharmonic_fill(images, mask),
    }
    budget = f"{n_inp} test digits (8x8), {CENTRE_HOLE}; RePaint {inp_steps} steps, jump 5, resample 5"
    for k, out in fills.items():
        res.add("inpaint-digits", k, "psnr", psnr(out, images, mask), True, budget + "; hole pixels only")
        res.add("inpaint-digits", k, "ssim", ssim(out, images, mask), True, budget + "; hole pixels only")
        fid = sample_metrics(images, out, "digits", dtrain, dtest, which=("fid",))["fid_classifier"]
        res.add("inpaint-digits", k, "fid_classifier", fid, False, budget + "; whole images")
    masked = images * (1 - mask) + 0.5 * mask
    save_grid(torch.cat([images[:8], masked[:8], *(v[:8] for v in fills.values())]),
              RESULTS / "diffusion_inpaint.png", nrow=8, scale=4)


def superres(res: Results, device, train_for, sr_s: float, sr_steps: int, batch: int,  # noqa: ANN001
             smoke: bool) -> None:
    """Super-resolution x4 on held-out photos: sr3 vs bicubic."""
    patches = gz.data.load("photos", split="train", patch=32, n=2048)
    held = gz.data.load("photos", split="test", patch=32, n=8 if smoke else 64)
    sr = gz.create("sr3", data=patches, scale=4, base_channels=WIDTH).to(device)
    sr_sys = System("sr3", sr, lambda x: sr.loss(((x + 1) / 2, None))["loss"], device)
    torch.manual_seed(5)
    n = train_for(sr_sys, sr_s, (patches.images * 2 - 1).to(device))
    hr = held.images
    low = downscale(hr, 4)
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


if __name__ == "__main__":
    main()
