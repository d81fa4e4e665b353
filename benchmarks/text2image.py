"""Text-to-image benchmark: caption consistency and classifier-FID of dalle, t2i_ldm and t2i_diffusion.

All three learn from the same 32-px `captioned_digits` canvases (seen attribute combinations only) on short
CPU budgets; dalle and t2i_ldm share one VQ-VAE. Each is asked for images of captions from the test
split — seen combinations and held-out ones — at guidance 0, 1 and 3, and the reading classifier
(`genzoo.metrics.caption_match`) reports the share whose layout, digits and sizes all match the caption.
`real_canvases` rows give the same numbers for real canvases (the reader's own agreement: the ceiling).
`fid_classifier` is the Fréchet distance on the reader's features (layout + per-slot digit features),
between test canvases and guidance-3 samples of the same captions. No anchor package runs text-to-image
on a CPU within this budget, so there is no anchor row; the baselines are guidance 0 (text ignored) and
chance. Run: `PYTHONPATH=src python benchmarks/text2image.py` (about 12 minutes on 2 shared cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.metrics import caption_match as cm  # noqa: E402
from genzoo.viz import save_grid  # noqa: E402

N_EVAL = 40  # captions per (split) cell
GUIDANCE = (0.0, 1.0, 3.0)
RUNS = Path(os.environ.get("T2I_RUNS", Path(tempfile.gettempdir()) / "genzoo-bench-text2image"))  # fresh = retrain
STEPS = {  # training steps of batch 32 per model (environment overrides for longer runs)
    "dalle": int(os.environ.get("DALLE_STEPS", 500)),
    "t2i_ldm": int(os.environ.get("LDM_STEPS", 500)),
    "t2i_diffusion": int(os.environ.get("PIXEL_STEPS", 300)),
}


def train(name: str, data: object, steps: int, batch: int, ema: float | None = None,
          **overrides: object) -> tuple[object, float]:
    """Train (or, when RUNS/name already finished, reload) a model; returns it and its training wall time.

    Diffusion runs use EMA 0.99: at a few hundred steps the family's 0.995 still carries ~20% of the
    zero-output initial weights, which shrinks the predicted noise and leaves samples noisy.
    """
    model = gz.create(name, data=data, **overrides)
    record = RUNS / name / "train_seconds.txt"  # measured when it was trained; a finished run resumes as a no-op
    t = time.perf_counter()
    gz.fit(model, data, max_steps=steps, batch_size=batch, progress=False, out=RUNS / name, ema=ema)
    if not record.is_file():
        record.write_text(f"{time.perf_counter() - t:.1f}\n")
    return model, float(record.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds: a few training steps, 4 captions per cell")
    smoke = parser.parse_args().smoke
    global N_EVAL, RUNS
    if smoke:
        N_EVAL, RUNS = 4, Path(tempfile.mkdtemp(prefix="genzoo-bench-text2image-smoke-"))
        STEPS.update(dalle=3, t2i_ldm=3, t2i_diffusion=3)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    res = Results("text2image", smoke=smoke)
    start = time.perf_counter()
    reader = cm.reader_for(32)
    train_ds = gz.data.load("captioned_digits", split="train", n=600 if smoke else 6000)
    evals = {split: gz.data.load("captioned_digits", split="test", n=N_EVAL, combos=split, seed=5)
             for split in ("seen", "held_out")}
    for split, ds in evals.items():
        res.add(f"real-canvases-{split}", "real_canvases", "caption_match",
                cm.caption_match(reader, ds.images, ds.scenes), True,
                f"reader: 1000 steps x 128 crops on 5000 train-digit canvases (cached); {N_EVAL} test-digit canvases")

    RUNS.mkdir(parents=True, exist_ok=True)
    vq, vq_s = train("vqvae", train_ds, 3 if smoke else 400, 64, hidden=32, codebook_size=64, code_dim=16)
    stats = vq.codebook_stats(evals["seen"].images)
    print(f"vqvae: {vq_s:.0f} s, psnr {stats['psnr']:.1f} dB, usage {stats['usage']:.2f}")
    models = {
        "dalle": train("dalle", train_ds, STEPS["dalle"], 32, tokens_of=str(RUNS / "vqvae"), n_layer=3, d_model=96,
                       n_head=4),
        "t2i_ldm": train("t2i_ldm", train_ds, STEPS["t2i_ldm"], 32, ema=0.99, latent_of=str(RUNS / "vqvae"),
                         base_channels=32),
        "t2i_diffusion": train("t2i_diffusion", train_ds, STEPS["t2i_diffusion"], 32, ema=0.99, base_channels=16,
                               channel_mults=(1, 2, 2), attn_resolutions=(8,)),
    }
    real_all = torch.cat([ds.images for ds in evals.values()])
    for name, (model, train_s) in models.items():
        budget = f"{STEPS[name]} steps x batch 32 ({train_s:.0f} s wall, shared 2-core CPU)"
        if name != "dalle":
            budget += ", EMA 0.99"
        if name != "t2i_diffusion":
            budget += f"; + shared vqvae 400 x 64 ({vq_s:.0f} s)"
        kwargs = {} if name == "dalle" else {"steps": 15}
        fakes = []
        for split, ds in evals.items():
            for w in GUIDANCE:
                t = time.perf_counter()
                x = model.sample(len(ds), prompt=ds.captions, guidance_scale=w, seed=0, **kwargs)
                match = cm.caption_match(reader, x, ds.scenes)
                res.add(f"{name}-{split}-guidance{w:g}", "genzoo", "caption_match", match, True,
                        f"{budget}; {len(ds)} captions, sampling {time.perf_counter() - t:.0f} s")
                if w == 3.0:
                    fakes.append(x)
                    if split == "seen":
                        save_grid(x[:16], res.file(f"text2image_{name}.png"), nrow=8, scale=2)
        res.add(f"{name}-guidance3", "genzoo", "fid_classifier", cm.reader_fid(reader, real_all, torch.cat(fakes)),
                False, f"{budget}; reader features, {len(real_all)} real vs {len(real_all)} generated")
    (res.file("text2image_captions.txt")).write_text("\n".join(evals["seen"].captions[:16]) + "\n")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
