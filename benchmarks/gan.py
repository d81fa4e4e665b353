"""GAN benchmark on mnist5k: classifier-FID/KID/precision/recall of 1000 samples for dcgan, wgan_gp, cgan
at a fixed small CPU budget, and genzoo's DCGAN side by side with a reference DCGAN written to the
pytorch/examples recipe (same layer sizes, plain PyTorch loop): training images/s and FID at equal wall-clock.

    PYTHONPATH=src python benchmarks/gan.py [--batches 400]

Writes benchmarks/results/gan.json and sample grids benchmarks/results/gan_<system>.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, interleaved_medians, throughput  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

LATENT, WIDTH, BATCH = 64, 32, 64


# -- the reference: pytorch/examples dcgan/main.py, sized for 28x28 ---------------------------------------
class RefGenerator(nn.Module):
    def __init__(self, nz: int = LATENT, ngf: int = WIDTH) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class RefDiscriminator(nn.Module):
    def __init__(self, ndf: int = WIDTH) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ReferenceDCGAN:
    """The example's loop: D on real (label 1) and fake (label 0) with BCELoss, then G with label 1."""

    def __init__(self, images: torch.Tensor, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.data = images * 2 - 1  # the example normalises to [-1, 1]
        self.netG, self.netD = RefGenerator(), RefDiscriminator()
        self.netG.apply(weights_init)
        self.netD.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.perm = torch.randperm(len(self.data))
        self.pos = 0

    def next_batch(self) -> torch.Tensor:
        if self.pos + BATCH > len(self.data):
            self.perm, self.pos = torch.randperm(len(self.data)), 0
        batch = self.data[self.perm[self.pos : self.pos + BATCH]]
        self.pos += BATCH
        return batch

    def step(self) -> None:
        real = self.next_batch()
        b = real.size(0)
        self.netD.zero_grad()
        err_real = self.criterion(self.netD(real), torch.full((b,), 1.0))
        err_real.backward()
        fake = self.netG(torch.randn(b, LATENT, 1, 1))
        err_fake = self.criterion(self.netD(fake.detach()), torch.full((b,), 0.0))
        err_fake.backward()
        self.optD.step()
        self.netG.zero_grad()
        err_g = self.criterion(self.netD(fake), torch.full((b,), 1.0))
        err_g.backward()
        self.optG.step()

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        self.netG.eval()
        out = (self.netG(torch.randn(n, LATENT, 1, 1)) + 1) / 2
        self.netG.train()
        return out


def genzoo_model(name: str, train: gz.data.Dataset) -> torch.nn.Module:  # type: ignore[name-defined]
    return gz.create(name, data=train, latent_dim=LATENT, g_width=WIDTH, d_width=WIDTH)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=250, help="training batches per model")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    res = Results("gan")
    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    real = test.images[: args.samples]
    budget = f"{args.batches} batches of {BATCH} (D+G steps), width {WIDTH}, CPU"

    # 1. steady-state training throughput, interleaved A,B,A,B (shared machine: medians of 3)
    model = genzoo_model("dcgan", train)
    opts = model.optimizers_for(2e-4)
    model.train()
    g = torch.Generator().manual_seed(0)

    def genzoo_step() -> None:
        idx = torch.randint(0, len(train), (BATCH,), generator=g)
        model.manual_step((train.images[idx], train.labels[idx]), opts, lambda loss: loss.backward())

    ref_timing = ReferenceDCGAN(train.images)
    speeds = interleaved_medians({
        "genzoo": lambda: throughput(genzoo_step, BATCH, steps=15),
        "reference_dcgan": lambda: throughput(ref_timing.step, BATCH, steps=15),
    })
    for system, v in speeds.items():
        res.add("mnist5k-dcgan", system, "train_images_per_s", v, True,
                "median of 3 interleaved runs of 15 steps (model step only, no data loader)")

    # 2. the three genzoo GANs at the fixed budget; dcgan's wall time sets the reference's budget.
    # A 2-step warm-up fit first, so Lightning's one-off import time is not charged to the first model.
    gz.fit(genzoo_model("dcgan", train), train, max_steps=2, batch_size=BATCH, progress=False)
    wall: dict[str, float] = {}
    for name in ("dcgan", "wgan_gp", "cgan"):
        torch.manual_seed(0)
        m = genzoo_model(name, train)
        per_batch = 2 if name != "wgan_gp" else 1 + 1 / m.config.n_critic  # Lightning counts optimizer
        # steps: D+G per batch, or n_critic D steps per G step
        t = time.perf_counter()
        gz.fit(m, train, max_steps=int(args.batches * per_batch), batch_size=BATCH, progress=False)
        wall[name] = time.perf_counter() - t
        res.add(f"mnist5k-{name}", "genzoo", "train_images_per_s_end_to_end",
                args.batches * BATCH / wall[name], True, budget + " via genzoo.fit (incl. start-up)")
        torch.manual_seed(1)
        labels = torch.arange(args.samples) % 10
        fake = m.sample(args.samples, labels=labels) if name == "cgan" else m.sample(args.samples)
        save_grid(fake[:64], RESULTS / f"gan_{name}.png", nrow=8)
        metrics = sample_metrics(real, fake, "mnist5k", train, test)
        for metric, value in metrics.items():
            res.add(f"mnist5k-{name}", "genzoo", metric, value, metric in ("precision", "recall"),
                    f"{budget}; {wall[name]:.0f} s wall")

    # 3. the reference DCGAN trained for the same wall-clock time as genzoo's dcgan
    ref = ReferenceDCGAN(train.images)
    t, steps = time.perf_counter(), 0
    while time.perf_counter() - t < wall["dcgan"]:
        ref.step()
        steps += 1
    torch.manual_seed(1)
    fake = ref.sample(args.samples)
    save_grid(fake[:64], RESULTS / "gan_reference_dcgan.png", nrow=8)
    for metric, value in sample_metrics(real, fake, "mnist5k", train, test).items():
        res.add("mnist5k-dcgan", "reference_dcgan", metric, value, metric in ("precision", "recall"),
                f"equal wall-clock to genzoo dcgan: {wall['dcgan']:.0f} s = {steps} batches of {BATCH}, "
                "CPU")


if __name__ == "__main__":
    main()
