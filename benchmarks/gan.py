"""GAN benchmark on mnist5k: learning curves (classifier-FID, precision, recall of 1000 samples against
wall-clock) of genzoo's dcgan, wgan_gp and cgan with their default recipes, a reference DCGAN written to the
pytorch/examples recipe (same data, plain PyTorch loop) beside genzoo's dcgan, and for cgan the
classification accuracy score (CAS: a classifier trained on generated digits, tested on real test digits)
with the real-data ceiling (the same classifier trained on as many real training digits).

    PYTHONPATH=src python benchmarks/gan.py [--models dcgan,reference] [--seconds 600] [--eval-every 500]

Every model trains on one thread. Training seconds exclude the evaluations (which run between steps);
they include genzoo.fit's start-up. Rows of the models run replace their old rows in gan.json, so the
models can be run as separate commands. Sample grids go to benchmarks/results/gan_<model>.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.augment import AugmentSettings, accuracy, synthetic_set, train_classifier  # noqa: E402
from genzoo.engine import rng  # noqa: E402
from genzoo.metrics.fid import sample_metrics  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

GENZOO = ("dcgan", "wgan_gp", "cgan")
CURVE_METRICS = ("fid", "precision", "recall")
REF_LATENT, REF_WIDTH, REF_BATCH = 64, 32, 64


# -- the reference: pytorch/examples dcgan/main.py, sized for 28x28 ---------------------------------------
class RefGenerator(nn.Module):
    def __init__(self, nz: int = REF_LATENT, ngf: int = REF_WIDTH) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class RefDiscriminator(nn.Module):
    def __init__(self, ndf: int = REF_WIDTH) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
            nn.Sigmoid(),
        )

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
        if self.pos + REF_BATCH > len(self.data):
            self.perm, self.pos = torch.randperm(len(self.data)), 0
        batch = self.data[self.perm[self.pos : self.pos + REF_BATCH]]
        self.pos += REF_BATCH
        return batch

    def step(self) -> None:
        real = self.next_batch()
        b = real.size(0)
        self.netD.zero_grad()
        err_real = self.criterion(self.netD(real), torch.full((b,), 1.0))
        err_real.backward()
        fake = self.netG(torch.randn(b, REF_LATENT, 1, 1))
        err_fake = self.criterion(self.netD(fake.detach()), torch.full((b,), 0.0))
        err_fake.backward()
        self.optD.step()
        self.netG.zero_grad()
        err_g = self.criterion(self.netD(fake), torch.full((b,), 1.0))
        err_g.backward()
        self.optG.step()

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """As the example draws its pictures: netG in training mode (BatchNorm on the batch's statistics)."""
        return (self.netG(torch.randn(n, REF_LATENT, 1, 1)) + 1) / 2


# -- measuring ------------------------------------------------------------------------------------------
class Curve:
    """Quality against training wall-clock: `point` evaluates, and its own time is not charged to training."""

    def __init__(self, real: torch.Tensor, train: Any, test: Any) -> None:
        self.real, self.train, self.test = real, train, test
        self.points: list[dict[str, float]] = []
        self.eval_seconds = 0.0
        self.start = time.perf_counter()

    def training_seconds(self) -> float:
        return time.perf_counter() - self.start - self.eval_seconds

    def point(self, step: int, fake: torch.Tensor) -> dict[str, float]:
        seconds = self.training_seconds()
        t = time.perf_counter()
        m = sample_metrics(self.real, fake, "mnist5k", self.train, self.test, which=CURVE_METRICS)
        self.eval_seconds += time.perf_counter() - t
        point = {
            "step": step,
            "seconds": round(seconds, 1),
            "fid_classifier": round(m["fid_classifier"], 3),
            "precision": round(m["precision"], 4),
            "recall": round(m["recall"], 4),
        }
        self.points.append(point)
        print(
            f"  step {step:>6} {seconds:7.1f} s  FID {point['fid_classifier']:8.2f}  "
            f"P {point['precision']:.3f}  R {point['recall']:.3f}",
            flush=True,
        )
        return point


def samples_of(model: Any, n: int) -> torch.Tensor:
    """n samples; a class-conditional model gets every class equally often."""
    torch.manual_seed(1)
    labels = torch.arange(n) % model.num_classes if model.num_classes else None
    return model.sample(n, labels=labels)


def train_genzoo(
    name: str, train: Any, curve: Curve, steps: int, eval_every: int, samples: int, options: dict[str, Any]
) -> tuple[Any, float]:
    """genzoo.fit with its defaults, the curve taken every `eval_every` steps (batches) by the evaluator."""

    def make_evaluator(*_: Any) -> Any:
        def evaluate(model: Any, step: int) -> dict[str, float]:
            was_training = model.training
            model.eval()
            with rng.isolated():
                point = curve.point(step, samples_of(model, samples))
            model.train(was_training)
            return {"fid": point["fid_classifier"]}

        return evaluate

    torch.manual_seed(0)
    model = gz.create(name, data=train, **options)
    curve.start = time.perf_counter()
    gz.fit(
        model, train, max_steps=steps, eval_every=eval_every, make_evaluator=make_evaluator, progress=False, loggers=()
    )
    return model, curve.training_seconds()


def train_reference(train: Any, curve: Curve, seconds: float, eval_every: int, samples: int) -> tuple[Any, int]:
    ref = ReferenceDCGAN(train.images)
    curve.start, steps = time.perf_counter(), 0
    while curve.training_seconds() < seconds:
        ref.step()
        steps += 1
        if steps % eval_every == 0:
            torch.manual_seed(1)
            curve.point(steps, ref.sample(samples))
    return ref, steps


def cas(model: Any, train: Any, test: Any, steps: int) -> tuple[float, float]:
    """(CAS of the model's digits, the same classifier trained on real digits): as many images each."""
    per_class = len(train) // model.num_classes
    settings = AugmentSettings(steps=steps, batch_size=64)
    fake = synthetic_set(model, model.num_classes, per_class)
    empty = train.images[:0], train.labels[:0]
    k = model.num_classes
    fake_acc = accuracy(train_classifier(*empty, k, settings, seed=0, extra=fake), test.images, test.labels)
    real = train.images[: len(fake[0])], train.labels[: len(fake[0])]
    real_acc = accuracy(train_classifier(*empty, k, settings, seed=0, extra=real), test.images, test.labels)
    return fake_acc, real_acc


def first_time_at(curve: list[dict[str, float]], fid: float) -> float | None:
    """Training seconds at which a curve first reached classifier-FID <= `fid`."""
    return next((p["seconds"] for p in curve if p["fid_classifier"] <= fid), None)


def keep_other_rows(res: Results, systems: set[str]) -> None:
    """Carry over gan.json's rows of systems this run did not measure (models run as separate commands)."""
    path = RESULTS / f"{res.name}.json"
    if path.is_file():
        res.rows = [r for r in json.loads(path.read_text())["rows"] if r["system"] not in systems]


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that reads as JSON (1e-3, true, [0.5, 0.9]) is that, else the string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--models", default="dcgan,reference,wgan_gp,cgan", help="comma list of dcgan, wgan_gp, cgan, reference"
    )
    parser.add_argument("--steps", type=int, default=6000, help="training steps (batches) per genzoo model")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="the reference's training seconds (default: twice genzoo dcgan's, else 300)",
    )
    parser.add_argument("--eval-every", type=int, default=500, help="steps (batches) between curve points")
    parser.add_argument("--ref-eval-every", type=int, default=1000, help="the reference's steps between points")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--cas-steps", type=int, default=1500, help="CAS classifier training steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a genzoo model option (recipe searches); the row records it",
    )
    parser.add_argument("--name", default="gan", help="results file benchmarks/results/NAME.json")
    parser.add_argument("--smoke", action="store_true", help="a few steps of each, to NAME_smoke.json")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.eval_every, args.ref_eval_every, args.samples, args.cas_steps = 20, 10, 10, 200, 20
        args.seconds = args.seconds or 2.0
    torch.set_num_threads(1)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    res = Results(args.name, smoke=args.smoke)
    systems = {f"genzoo-{m}" for m in models if m in GENZOO} | ({"reference_dcgan"} if "reference" in models else set())
    keep_other_rows(res, systems)
    train, test = gz.data.load("mnist5k"), gz.data.load("mnist5k", split="test")
    real = test.images[: args.samples]
    options = parse_options(args.set)
    where = machine()
    gz.fit(gz.create("dcgan", data=train), train, max_steps=2, progress=False, loggers=())  # import warm-up

    def add(
        task: str, system: str, metric: str, value: float, higher: bool, budget: dict[str, Any], **extra: Any
    ) -> None:
        res.add(task, system, metric, value, higher, budget, **extra)  # type: ignore[arg-type]

    for name in [m for m in models if m in GENZOO]:
        print(f"genzoo {name}", flush=True)
        curve = Curve(real, train, test)
        model, seconds = train_genzoo(name, train, curve, args.steps, args.eval_every, args.samples, options)
        fake = samples_of(model, args.samples)
        save_grid(fake[:64], res.file(f"{args.name}_{name}.png"), nrow=8)
        final = sample_metrics(real, fake, "mnist5k", train, test)
        budget = {
            "steps": args.steps,
            "batch_size": 64,
            "seconds": round(seconds, 1),
            "threads": 1,
            "machine": where,
            "note": "steps are batches (one D and one G update each, wgan_gp: one "
            f"critic update each, G every {model.config.n_critic}); seconds exclude the curve's evaluations",
        }
        extra = {"options": options} if options else {}
        for metric, value in final.items():
            add(
                f"mnist5k-{name}",
                f"genzoo-{name}",
                metric,
                value,
                metric in ("precision", "recall"),
                budget,
                **({"curve": curve.points, **extra} if metric == "fid_classifier" else extra),
            )
        if name == "cgan":
            fake_acc, real_acc = cas(model, train, test, args.cas_steps)
            add(
                "mnist5k-cgan",
                "genzoo-cgan",
                "cas",
                fake_acc,
                True,
                budget,
                real_data_ceiling=real_acc,
                chance=0.1,
                note=f"SmallClassifier (apps/augment), {args.cas_steps} steps, trained on {len(train)} "
                "generated digits (every class equally) vs the same number of real training digits, "
                "tested on the 1000 real test digits",
            )

    if "reference" in models:
        print("reference dcgan", flush=True)
        dc = next((r for r in res.rows if r["system"] == "genzoo-dcgan" and r["metric"] == "fid_classifier"), None)
        seconds = args.seconds or (2 * dc["budget"]["seconds"] if dc else 300.0)
        curve = Curve(real, train, test)
        ref, steps = train_reference(train, curve, seconds, args.ref_eval_every, args.samples)
        torch.manual_seed(1)
        fake = ref.sample(args.samples)
        save_grid(fake[:64], res.file(f"{args.name}_reference_dcgan.png"), nrow=8)
        budget = {
            "steps": steps,
            "batch_size": REF_BATCH,
            "seconds": round(curve.training_seconds(), 1),
            "threads": 1,
            "machine": where,
            "note": f"pytorch/examples DCGAN loop, width {REF_WIDTH}, "
            "Adam 2e-4 (0.5, 0.999), sampled in training mode as the example does",
        }
        final = sample_metrics(real, fake, "mnist5k", train, test)
        extra: dict[str, Any] = {}
        if dc is not None:
            reached = first_time_at(dc["curve"], final["fid_classifier"])
            extra = {
                "genzoo_dcgan_seconds_to_this_fid": reached,
                "genzoo_time_fraction": None if reached is None else round(reached / budget["seconds"], 3),
            }
        for metric, value in final.items():
            add(
                "mnist5k-dcgan",
                "reference_dcgan",
                metric,
                value,
                metric in ("precision", "recall"),
                budget,
                **({"curve": curve.points, **extra} if metric == "fid_classifier" else {}),
            )


if __name__ == "__main__":
    main()
