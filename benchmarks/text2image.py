"""Text-to-image benchmark: caption match against training wall-clock for dalle, t2i_ldm and t2i_diffusion.

All three learn from the same 32-px `captioned_digits` canvases (seen attribute combinations only); dalle
and t2i_ldm share one VQ-VAE. Each model trains in stages (`gz.fit` resumes its run directory, so a
learning-curve point costs only the steps added since the last one); after each stage it draws one image
per caption of three sets — validation captions (seen combinations, split "val", another seed), test
captions of seen combinations and test captions of held-out ones — and the reading classifier
(`genzoo.metrics.caption_match`) gives the share whose layout, digits and sizes all match the caption.
The last stage is also sampled at guidance 0 (text ignored) and 1; then the sampling knobs of `SWEEP`
(guidance x temperature) are tried on the validation captions only, and the best there is drawn once on
the two test sets (task `<model>-chosen`; its grids are saved beside the JSON). Each row's `attributes`
say which attribute fails: layout, digit and size per slot, and caption match by the caption's wording
(one digit; a pair named left/top first; named right/bottom first; "two 4s ...").

Baseline rows (same captions, same reader): `real_canvases` (the reader's agreement with real test
canvases: the ceiling), `vqvae_reconstruction` (the test canvases through the shared tokenizer: what
dalle and t2i_ldm can reach at best), `nearest_training_canvas` (for each caption the training canvas
whose scene shares the most slot attributes with it — memorisation: near the ceiling on seen captions,
by construction never exact on held-out ones) and `random_training_canvas` (the caption ignored: chance).
No anchor package runs text-to-image on a CPU within this budget, so there is no anchor row.

    PYTHONPATH=src python benchmarks/text2image.py --systems dalle          # one system per queued run
    PYTHONPATH=src python benchmarks/text2image.py --smoke                  # a few steps of everything
    benchmarks/text2image_gpu.sh                                            # the long runs, on one GPU

Rows from earlier invocations with other systems are kept, so the systems can run one at a time. The
curve points come from DALLE_STEPS / LDM_STEPS / PIXEL_STEPS and the tokenizer's from VQ_STEPS (comma lists of steps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Results, machine  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.data.captions import Scene  # noqa: E402
from genzoo.metrics import caption_match as cm  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

SYSTEMS = ("dalle", "t2i_ldm", "t2i_diffusion")
CURVES = {  # learning-curve points, training steps of batch `BATCH`
    "dalle": os.environ.get("DALLE_STEPS", "1000,2000,3500,5000"),
    "t2i_ldm": os.environ.get("LDM_STEPS", "250,500,1000"),
    "t2i_diffusion": os.environ.get("PIXEL_STEPS", "150,300,600"),
}
BATCH = int(os.environ.get("T2I_BATCH", 32))
MAX_SECONDS = float(os.environ.get("T2I_MAX_SECONDS", "inf"))  # per system: later curve points are skipped
#: the shared tokenizer's learning-curve points (reconstructions' caption match on "val"); the last is used
VQ_STEPS = [int(s) for s in os.environ.get("VQ_STEPS", "400,800,1600").split(",")]
SAMPLE_STEPS = 15  # DDIM steps of the diffusion models
#: the architectures and knobs benchmarked (the GPU script passes larger ones through T2I_OVERRIDES)
MODEL_ARGS: dict[str, dict[str, Any]] = {
    "vqvae": {"hidden": 32, "codebook_size": 64, "code_dim": 16},
    "dalle": {"n_layer": 3, "d_model": 96, "n_head": 4, "caption_slots": True},
    "t2i_ldm": {"base_channels": 32},
    "t2i_diffusion": {"base_channels": 16, "channel_mults": (1, 2, 2), "attn_resolutions": (8,)},
}
EMA = {"dalle": None, "t2i_ldm": 0.99, "t2i_diffusion": 0.99}  # 0.99: see `Stages`
LR = {"dalle": None, "t2i_ldm": None, "t2i_diffusion": None}
#: sampling knobs tried on the validation captions after the last stage (no training cost); the best is
#: then drawn on the test captions
SWEEP: dict[str, list[dict[str, Any]]] = {
    "dalle": [{"guidance_scale": g, "temperature": t} for g in (1.5, 3.0, 5.0) for t in (1.0, 0.7, 0.5)],
    "t2i_ldm": [{"guidance_scale": g} for g in (1.5, 3.0, 6.0)],
    "t2i_diffusion": [{"guidance_scale": g} for g in (1.5, 3.0, 6.0)],
}
TEST = ("seen", "held_out")  # the reported test splits; "val" picks the sampling knobs


class Stages:
    """One model trained stage by stage in its own run directory; `curve.json` there keeps each stage's
    cumulative training seconds and caption match, measured when it was trained, so a rerun with more
    stages trains and measures only the new ones.

    Diffusion runs use EMA 0.99: at a few hundred steps the family's 0.995 still carries ~20% of the
    zero-output initial weights, which shrinks the predicted noise and leaves samples noisy.
    """

    def __init__(self, out: Path, name: str, data: Any, device: str, **overrides: Any) -> None:
        self.out, self.data, self.device = out, data, device
        self.model = gz.create(name, data=data, **overrides)
        self.record = out / "curve.json"
        self.points: list[dict[str, Any]] = json.loads(self.record.read_text()) if self.record.is_file() else []

    def train_to(
        self, steps: int, batch: int, ema: float | None, lr: float | None, measure: Any = None
    ) -> dict[str, Any]:
        """Train (or resume) to `steps` total; the point {steps, train_seconds, **measure(model)} of the curve."""
        done = [p for p in self.points if p["steps"] == steps]
        if done and measure is not None:
            return done[0]
        t = time.perf_counter()
        accel = "cpu" if self.device == "cpu" else "gpu"
        self.model = gz.fit(
            self.model,
            self.data,
            max_steps=steps,
            batch_size=batch,
            progress=False,
            out=self.out,
            ema=ema,
            lr=lr,
            accelerator=accel,
            devices=1,
            loggers="csv",
        )
        before = max((p["train_seconds"] for p in self.points if p["steps"] < steps), default=0.0)
        point = {"steps": steps, "train_seconds": round(before + time.perf_counter() - t, 1)}
        if measure is not None:
            point.update(measure(self.model))
            self.points = sorted([*self.points, point], key=lambda p: p["steps"])
            self.record.write_text(json.dumps(self.points))
        return point


def nearest_scene_canvases(train: Any, scenes: list[Scene], pick_random: bool, seed: int = 0) -> torch.Tensor:
    """For each scene, the training canvas of the same layout sharing the most (digit, size) slots with it
    (first such canvas); with `pick_random`, a random training canvas instead (the caption ignored)."""
    g = torch.Generator().manual_seed(seed)
    if pick_random:
        return train.images[torch.randint(len(train), (len(scenes),), generator=g)]
    out = []
    for s in scenes:

        def score(t: Scene, s: Scene = s) -> int:
            if t.layout != s.layout:
                return -1
            return sum((a, b) == (c, d) for a, b, c, d in zip(t.digits, t.sizes, s.digits, s.sizes))

        scores = [score(t) for t in train.scenes]
        out.append(train.images[max(range(len(scores)), key=scores.__getitem__)])
    return torch.stack(out)


def knob_name(guidance: float, knobs: dict[str, Any]) -> str:
    """A row's task suffix for sampling knobs, e.g. "guidance3-temperature0.7"."""
    return "-".join([f"guidance{guidance:g}", *(f"{k.replace('_', '')}{v:g}" for k, v in knobs.items())])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few steps of everything in a temporary directory")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of dalle, t2i_ldm, t2i_diffusion")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--runs", default=os.environ.get("T2I_RUNS", ""), help="run directory (kept: reruns resume)")
    ap.add_argument("--n-eval", type=int, default=100, help="captions per split (val, seen, held-out)")
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--stem", default="text2image", help="results/<stem>.json")
    ap.add_argument("--tag", default="", help="an ablation's name: system genzoo-<model>-<tag>, its own run")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the model's)")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    if bad := [s for s in systems if s not in SYSTEMS]:
        print(f"genzoo: error: unknown systems {bad}; choose from {', '.join(SYSTEMS)}", file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(1 if args.device == "cpu" else torch.get_num_threads())
    torch.manual_seed(0)
    overrides = json.loads(os.environ.get("T2I_OVERRIDES", "{}"))  # {"dalle": {...}, ...} for longer runs
    model_args = {k: {**v, **overrides.get(k, {})} for k, v in MODEL_ARGS.items()}
    threads = torch.get_num_threads()
    where = f"{'1 thread of ' if args.device == 'cpu' else ''}{machine()}"
    stem = f"{args.stem}_smoke" if args.smoke else args.stem
    if args.smoke:
        tmp = tempfile.TemporaryDirectory()
        runs, n_eval, n_train, vq_steps = Path(tmp.name), 4, 300, [5]
        curves = dict.fromkeys(SYSTEMS, [2, 3])
        reader = cm.train_reader(32, steps=5, n=200)[0]
        reader_budget = "reader: 5 steps x 128 crops on 200 train-digit canvases"
    else:
        runs = Path(args.runs) if args.runs else Path(tempfile.gettempdir()) / "genzoo-bench-text2image"
        n_eval, n_train, vq_steps = args.n_eval, args.n_train, VQ_STEPS
        curves = {k: [int(s) for s in v.split(",")] for k, v in CURVES.items()}
        reader = cm.reader_for(32)
        reader_budget = "reader: 1000 steps x 128 crops on 5000 train-digit canvases (cached)"
    res = Results(args.stem, smoke=args.smoke)
    old = RESULTS / f"{stem}.json"  # keep the rows of systems not rerun now
    if old.is_file() and not args.smoke:
        rerun = {f"genzoo-{s}" + (f"-{args.tag}" if args.tag else "") for s in systems}
        res.rows = [r for r in json.loads(old.read_text())["rows"] if "split" in r and r["system"] not in rerun]
    keep_baselines = {r["system"] for r in res.rows if r["split"] == "val"}  # baselines from before "val" rerun
    train_ds = gz.data.load("captioned_digits", split="train", n=n_train)
    evals = {
        split: gz.data.load("captioned_digits", split="test", n=n_eval, combos=split, seed=5) for split in TEST
    }
    evals = {"val": gz.data.load("captioned_digits", split="val", n=n_eval, combos="seen", seed=7), **evals}

    def add(system: str, task: str, match: dict[str, float], budget: str, **extra: Any) -> None:
        for split, value in match.items():
            res.add(f"{task}-{split}", system, "caption_match", value, True, budget, split=split, **extra)

    def matches(images: dict[str, torch.Tensor]) -> dict[str, float]:
        return {s: cm.caption_match(reader, x, evals[s].scenes) for s, x in images.items()}

    def wording(caption: str, scene: Scene) -> str:
        if scene.layout == "single":
            return "single"
        if caption.startswith("two"):
            return "two"
        return "in_order" if caption == scene.caption(0) else "reversed"

    def attributes(images: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        """Per split, the share of images read with the caption's layout and, where the layout is right,
        the share of slots read with the caption's digit and with its size: which attribute fails; and the
        caption match per wording (a pair named right/bottom first is "reversed"): whether word order does."""
        out: dict[str, dict[str, Any]] = {}
        for s, x in images.items():
            pairs = list(zip(cm.read_scenes(reader, x), evals[s].scenes, strict=True))
            slots = [
                (a, b, c, d)
                for r, t in pairs
                if r.layout == t.layout
                for a, b, c, d in zip(r.digits, r.sizes, t.digits, t.sizes, strict=True)
            ]
            kinds = [wording(c, t) for c, (_, t) in zip(evals[s].captions, pairs, strict=True)]
            by_wording = {}
            for kind in ("single", "in_order", "reversed", "two"):
                hits = [r == t for (r, t), k in zip(pairs, kinds, strict=True) if k == kind]
                if hits:
                    by_wording[kind] = {"match": round(sum(hits) / len(hits), 3), "n": len(hits)}
            out[s] = {
                "layout": round(sum(r.layout == t.layout for r, t in pairs) / len(pairs), 3),
                "digit_per_slot": round(sum(a == c for a, _, c, _ in slots) / max(len(slots), 1), 3),
                "size_per_slot": round(sum(b == d for _, b, _, d in slots) / max(len(slots), 1), 3),
                "match_by_wording": by_wording,
            }
        return out

    for system, pick in (("real_canvases", None), ("nearest_training_canvas", False), ("random_training_canvas", True)):
        if system in keep_baselines:
            continue
        res.rows = [r for r in res.rows if r["system"] != system]
        images = {
            s: ds.images if pick is None else nearest_scene_canvases(train_ds, ds.scenes, pick)
            for s, ds in evals.items()
        }
        add(
            system,
            system.replace("_", "-"),
            matches(images),
            f"{reader_budget}; {n_eval} test captions per split; training pool {n_train} seen-combination canvases",
        )

    runs.mkdir(parents=True, exist_ok=True)
    # the shared tokenizer (trained where this run directory lacks it) and its row: the ceiling of the
    # models that draw through it, so the row always describes the tokenizer the systems run now use
    need_vq = {"dalle", "t2i_ldm"} & set(systems)
    if need_vq:
        res.rows = [r for r in res.rows if r["system"] != "vqvae_reconstruction"]
        stages = Stages(runs / "vqvae", "vqvae", train_ds, args.device, **model_args["vqvae"])

        def reconstruct(vq: Any, splits: tuple[str, ...] = tuple(evals)) -> dict[str, torch.Tensor]:
            return {s: vq.decode(vq.encode(evals[s].images.to(vq.device))).cpu() for s in splits}

        vq_curve = [
            stages.train_to(steps, 64, None, None, lambda m: matches(reconstruct(m, ("val",)))) for steps in vq_steps
        ]
        vq, vq_s = gz.load(runs / "vqvae").eval(), vq_curve[-1]["train_seconds"]  # what dalle / t2i_ldm load
        recon = reconstruct(vq)
        stats = vq.codebook_stats(evals["seen"].images.to(vq.device))
        add(
            "vqvae_reconstruction",
            "vqvae-reconstruction",
            matches(recon),
            f"{vq_steps[-1]} steps x batch 64, {vq_s:.0f} s wall, threads={threads}, {where}",
            steps=vq_steps[-1],
            train_seconds=round(vq_s, 1),
            psnr=round(stats["psnr"], 2),
            usage=round(stats["usage"], 3),
            config=model_args["vqvae"],
            attributes=attributes(recon),
            curve=vq_curve,
        )
    for name in systems:
        extra = {"dalle": {"tokens_of": str(runs / "vqvae")}, "t2i_ldm": {"latent_of": str(runs / "vqvae")}}
        label = name + (f"-{args.tag}" if args.tag else "")
        stages = Stages(runs / label, name, train_ds, args.device, **model_args[name], **extra.get(name, {}))
        lr = args.lr or LR[name]
        kwargs = {} if name == "dalle" else {"steps": SAMPLE_STEPS}
        w = float(stages.model.config.guidance_scale)

        def draw(
            model: Any, guidance: float, splits: tuple[str, ...] = tuple(evals), kwargs: dict = kwargs, **knobs: Any
        ) -> dict[str, torch.Tensor]:
            return {
                s: model.sample(len(evals[s]), prompt=evals[s].captions, guidance_scale=guidance, seed=0, **kwargs,
                                **knobs).cpu()
                for s in splits
            }

        curve = []
        for steps in curves[name]:
            point = stages.train_to(steps, BATCH, EMA[name], lr, lambda m, w=w: matches(draw(m, w)))
            curve.append(point)
            print(f"{label} {point}", flush=True)
            if point["train_seconds"] > MAX_SECONDS:
                break
        stages.train_to(curve[-1]["steps"], BATCH, EMA[name], lr)  # the last stage's weights, if it was done
        last = curve[-1]
        budget = (
            f"{last['steps']} steps x batch {BATCH}, {last['train_seconds']:.0f} s wall, threads={threads}, "
            f"{where}"
            + (f", EMA {EMA[name]}" if EMA[name] else "")
            + (f"; + shared vqvae {vq_steps[-1]} x 64" if name != "t2i_diffusion" else "")
            + f"; {n_train} training canvases"
        )
        config = {**model_args[name], **({"lr": lr} if lr else {})}
        trained = {"steps": last["steps"], "train_seconds": last["train_seconds"], "config": config}
        for guidance in sorted({0.0, 1.0, w}):
            images = draw(stages.model, guidance)
            extra_fields = {"curve": curve} if guidance == w else {}
            add(
                f"genzoo-{label}",
                f"{label}-guidance{guidance:g}",
                matches(images),
                budget,
                guidance=guidance,
                **trained,
                attributes=attributes(images),
                **extra_fields,
            )
        tried = []
        for knobs in SWEEP[name]:
            knobs = dict(knobs)
            guidance = knobs.pop("guidance_scale")
            images = draw(stages.model, guidance, ("val",), **knobs)
            tried.append((matches(images)["val"], guidance, knobs))
            add(
                f"genzoo-{label}",
                f"{label}-" + knob_name(guidance, knobs),
                {"val": tried[-1][0]},
                budget,
                guidance=guidance,
                **trained,
                **knobs,
            )
        _, guidance, knobs = max(tried, key=lambda t: t[0])  # the first best on validation
        images = draw(stages.model, guidance, TEST, **knobs)
        add(
            f"genzoo-{label}",
            f"{label}-chosen",
            matches(images),
            budget,
            guidance=guidance,
            chosen_on="val: " + knob_name(guidance, knobs),
            **trained,
            attributes=attributes(images),
            **knobs,
        )
        save_grid(images["seen"][:16], res.file(f"{stem}_{label}.png"), nrow=8, scale=2)
        save_grid(images["held_out"][:16], res.file(f"{stem}_{label}_held_out.png"), nrow=8, scale=2)
    for split in TEST:
        ds = evals[split]
        res.file(f"{stem}_captions{'' if split == 'seen' else '_held_out'}.txt").write_text(
            "\n".join(ds.captions[:16]) + "\n"
        )


if __name__ == "__main__":
    main()
