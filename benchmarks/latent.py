"""Latent variable models: VQ-VAE codebook, learned compression vs PNG/JPEG/WebP, semi-supervised M2, edits.

    PYTHONPATH=src python benchmarks/latent.py                 # everything, one process
    PYTHONPATH=src python benchmarks/latent.py compression     # or the two halves side by side
    PYTHONPATH=src python benchmarks/latent.py semisupervised 10,100   # labels per class
    PYTHONPATH=src python benchmarks/latent.py lossless        # PixelCNN bits/dim vs PNG (lossless.json)

Writes benchmarks/results/compression.json (VQ-VAE reconstruction/codebook rows, bpp at matched PSNR for
genzoo/png/jpeg/webp with psnr/ssim beside them, file size vs the model's rate estimate),
semisupervised.json (test accuracy of M2, M1+M2, and of the same classifier on labels alone, mean and std over
seeds), lossless.json (exact bits/dim of a categorical PixelCNN on the test digits, the same digits
range-coded into real files, and PNG per digit / as one mosaic) and PNGs: rate-distortion curve,
interpolation / attribute / nearest-neighbour strips.
All images compressed are held-out mnist5k test digits, tiled 10x10 into 280x280 mosaics, written as real
files (genzoo .gzc via the range coder; Pillow for the others).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import RESULTS, Results  # noqa: E402

_threads_machine = common.machine


def _machine() -> str:
    """The machine (all its cores), also when a part runs single-threaded beside the other part."""
    return _threads_machine().replace(
        f"{torch.get_num_threads()} CPU cores", f"{os.cpu_count()} CPU cores", 1
    )


common.machine = _machine

import genzoo as gz  # noqa: E402
from genzoo.apps import compress as C  # noqa: E402

VQ_STEPS = 300
VQ_MODELS = {  # name -> config overrides: two rate points
    "vqvae-7x7-K64": dict(downsamples=2, codebook_size=64, code_dim=16, hidden=32),
    "vqvae-14x14-K16": dict(downsamples=1, codebook_size=16, code_dim=8, hidden=32),
}
SEMI_STEPS = int(os.environ.get("SEMI_STEPS", 600))
SEMI_SEEDS, SEMI_LABELS = 3, 10
SEMI_M1_STEPS = int(os.environ.get("SEMI_M1_STEPS", 600))  # M1 (conv VAE) steps for M1+M2, once for all seeds
SEMI_CONFIG = dict(hidden=128, latent_dim=8, class_weight=200.0)
FACE_STEPS = 300
JPEG_Q = (1, 3, 5, 10, 15, 20, 30, 40, 50, 70, 90)
WEBP_Q = (0, 5, 10, 20, 30, 40, 50, 70, 90)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * float(np.log10(1.0 / max(float(((a - b) ** 2).mean()), 1e-12)))


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a[0].numpy(), b[0].numpy(), data_range=1.0))


def mosaics(test: torch.utils.data.Dataset, n: int = 4, side: int = 10) -> list[torch.Tensor]:
    out = []
    for m in range(n):
        tiles = test.images[m * side * side : (m + 1) * side * side]
        out.append(torch.cat([torch.cat(list(tiles[r * side : (r + 1) * side]), 2) for r in range(side)], 1))
    return out


def pillow_curve(images: list[torch.Tensor], fmt: str, qualities: tuple[int, ...]) -> list[dict[str, float]]:
    """Mean bpp / psnr / ssim over `images` for each quality setting of a Pillow codec."""
    curve = []
    for q in qualities:
        bpp, ps, ss = [], [], []
        for img in images:
            data = C.image_bytes(img, fmt, quality=q)
            back = C.decode_image_bytes(data, 1)
            bpp.append(8 * len(data) / (img.shape[1] * img.shape[2]))
            ps.append(psnr(back, img))
            ss.append(ssim(back, img))
        curve.append(
            {"q": q, "bpp": statistics.mean(bpp), "psnr": statistics.mean(ps), "ssim": statistics.mean(ss)}
        )
    return curve


def at_psnr(curve: list[dict[str, float]], target: float, key: str) -> float:
    """`key` interpolated at PSNR `target` along a codec's curve (clamped to the measured range)."""
    pts = sorted(curve, key=lambda r: r["psnr"])
    return float(np.interp(target, [r["psnr"] for r in pts], [r[key] for r in pts]))


def train_vq(name: str, overrides: dict, train, out: Path):
    torch.manual_seed(0)
    model = gz.create("vqvae", data=train, **overrides)
    t = time.perf_counter()
    gz.fit(model, train, max_steps=VQ_STEPS, batch_size=64, out=out / name, progress=False, log_every=50)
    model.fit_prior(torch.cat([model.encode(train.images[i : i + 500]) for i in range(0, len(train), 500)]))
    return model, time.perf_counter() - t


def compression(res: Results, train, test, work: Path) -> dict:
    images = mosaics(test)
    px = images[0].shape[1] * images[0].shape[2]
    budget = f"{VQ_STEPS} steps, batch 64, mnist5k train; 4 held-out 280x280 mosaics of test digits"
    points, models = {}, {}
    for name, overrides in VQ_MODELS.items():
        model, secs = train_vq(name, overrides, train, work)
        models[name] = model
        st = model.codebook_stats(test.images)
        task = f"mnist5k-{name}"
        res.add(task, "genzoo", "psnr", st["psnr"], True, f"{budget}; per 28x28 test digit")
        res.add(task, "genzoo", "codebook_usage", st["usage"], True, budget)
        res.add(task, "genzoo", "codebook_perplexity", st["perplexity"], True, budget)
        res.add(task, "genzoo", "prior_bits_per_token", st["prior_bits_per_token"], False, budget)
        res.add(task, "genzoo", "train_seconds", secs, False, budget)
        sizes, est, ps, ss, exact = [], [], [], [], True
        for img in images:
            data = C.compress_image(model, img)
            back = C.decompress_bytes(model, data)
            exact &= torch.equal(back, C.reconstruct(model, img))
            sizes.append(len(data))
            est.append(C.rate_estimate_bits(model, img) / 8 + C.HEADER.size)
            ps.append(psnr(back, img))
            ss.append(ssim(back, img))
        if not exact:
            raise RuntimeError("decompress did not reproduce the model's reconstruction")
        points[name] = {
            "bpp": 8 * statistics.mean(sizes) / px,
            "psnr": statistics.mean(ps),
            "ssim": statistics.mean(ss),
        }
        res.add(
            task,
            "genzoo",
            "file_bytes_over_rate_estimate",
            statistics.mean(sizes) / statistics.mean(est),
            False,
            f"{budget}; rate estimate = prior code length + {C.HEADER.size}-byte header",
        )
    jpeg, webp = pillow_curve(images, "JPEG", JPEG_Q), pillow_curve(images, "WEBP", WEBP_Q)
    png_bpp = statistics.mean(8 * len(C.image_bytes(img, "PNG", optimize=True)) / px for img in images)
    for name, p in points.items():
        task = f"psnr-{p['psnr']:.0f}"
        b = f"{budget}; genzoo = {name}; jpeg/webp interpolated over quality to genzoo's PSNR"
        res.add(task, "genzoo", "bpp", p["bpp"], False, b, model=name)
        res.add(task, "genzoo", "psnr", p["psnr"], True, b, model=name)
        res.add(task, "genzoo", "ssim", p["ssim"], True, b, model=name)
        for codec, curve in (("jpeg", jpeg), ("webp", webp)):
            lo = min(r["psnr"] for r in curve)
            note = b + (
                "" if p["psnr"] >= lo else f"; {codec} never goes below {lo:.1f} dB: its lowest quality"
            )
            res.add(task, codec, "bpp", at_psnr(curve, p["psnr"], "bpp"), False, note)
            res.add(task, codec, "psnr", max(p["psnr"], lo), True, note)
            res.add(task, codec, "ssim", at_psnr(curve, p["psnr"], "ssim"), True, note)
        res.add(task, "png", "bpp", png_bpp, False, f"{b}; lossless (PSNR infinite)")
    plot_rd(points, jpeg, webp, png_bpp)
    return models


def plot_rd(points: dict, jpeg: list, webp: list, png_bpp: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=90)
    for label, curve, style in (("JPEG", jpeg, "o-"), ("WebP", webp, "s-")):
        ax.plot([r["bpp"] for r in curve], [r["psnr"] for r in curve], style, ms=3, label=label)
    ax.plot(
        [p["bpp"] for p in points.values()],
        [p["psnr"] for p in points.values()],
        "r*",
        ms=12,
        label="genzoo VQ-VAE + AR prior",
    )
    ax.axvline(png_bpp, color="grey", ls=":", label=f"PNG lossless ({png_bpp:.2f} bpp)")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_xlim(0, max(2.5, 1.1 * max(p["bpp"] for p in points.values())))
    ax.set_title("held-out MNIST mosaics (280x280)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "latent_rate_distortion.png")
    plt.close(fig)


def semisupervised(res: Results, labels: int = SEMI_LABELS) -> None:
    from genzoo.apps.semisupervised import run_semisupervised

    task = f"mnist5k-{labels}-per-class"
    previous = RESULTS / "semisupervised.json"
    if previous.is_file():  # keep rows of other label counts, measured by an earlier run of this script
        res.rows = [r for r in json.loads(previous.read_text())["rows"] if r["task"] != task]
    t = time.perf_counter()
    r = run_semisupervised("mnist5k", labels, SEMI_SEEDS, SEMI_STEPS, 100, SEMI_M1_STEPS, **SEMI_CONFIG)
    secs = time.perf_counter() - t
    budget = (
        f"{SEMI_STEPS} steps x batch 100 per seed, {SEMI_SEEDS} seeds (paper: ~1000 epochs; 4000 unlabelled "
        f"here vs 50000); MLP {SEMI_CONFIG}; M1+M2's M1: conv VAE, 32 latents, {SEMI_M1_STEPS} steps, "
        f"shared by the seeds; {secs:.0f} s total"
    )
    for system in ("genzoo", "labels_only", "genzoo-m1m2", "m1_labels_only"):
        accs = [1 - e for e in r[system]["errors"]]
        res.add(
            task,
            system,
            "accuracy",
            statistics.mean(accs),
            True,
            budget,
            std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            per_seed=accs,
        )


def strips(vq_model, test) -> None:
    from genzoo.apps.manipulate import attribute_sets
    from genzoo.latent import apply_attribute, attribute_vector, interpolate, nearest_neighbours
    from genzoo.viz import save_grid

    train = gz.data.load("mnist5k", split="train")
    rows = [
        interpolate(vq_model, test.images[i], test.images[j], steps=8)
        for i, j in ((0, 950), (120, 640))
    ]
    save_grid(torch.cat(rows), RESULTS / "latent_interpolation.png", nrow=8, scale=2)
    thick = attribute_vector(vq_model, *attribute_sets(train, "thick"))
    edits = apply_attribute(vq_model, test.images[[5, 305, 705]], thick, torch.linspace(-1.5, 1.5, 7))
    save_grid(edits, RESULTS / "latent_edit_thick_mnist.png", nrow=7, scale=2)
    idx, _ = nearest_neighbours(vq_model, test.images[[10, 510]], train.images, k=7)
    nn_rows = torch.cat(
        [torch.cat([test.images[[q]], train.images[idx[r]]]) for r, q in enumerate((10, 510))]
    )
    save_grid(nn_rows, RESULTS / "latent_neighbours_mnist.png", nrow=8, scale=2)

    faces = gz.data.load("faces", split="train")
    torch.manual_seed(0)
    vae = gz.create("vae", data=faces, latent_dim=16, hidden=16, likelihood="gaussian")
    gz.fit(vae, faces, max_steps=FACE_STEPS, batch_size=32, progress=False)
    face_vec = attribute_vector(vae, *attribute_sets(faces, "face"))
    faces_test = gz.data.load("faces", split="test")
    non_faces = faces_test.images[faces_test.labels == 0][:3]
    edits = apply_attribute(vae, non_faces, face_vec, torch.linspace(0, 2, 6))
    save_grid(edits, RESULTS / "latent_edit_face.png", nrow=6, scale=3)


def main(part: str = "all", label_counts: tuple[int, ...] = (SEMI_LABELS,)) -> None:
    """`part` = compression (VQ-VAE, codecs, strips), semisupervised, lossless (PixelCNN vs PNG)
    or all; the parts are independent processes' worth of work, so on a 2-core machine they can run side by side."""
    torch.set_num_threads(1 if part != "all" else 2)
    t0 = time.perf_counter()
    if part in ("compression", "all"):
        train, test = gz.data.load("mnist5k", split="train"), gz.data.load("mnist5k", split="test")
        models = compression(
            Results("compression"), train, test, Path(tempfile.mkdtemp(prefix="genzoo-bench-latent-"))
        )
        strips(models["vqvae-7x7-K64"], test)
    if part in ("semisupervised", "all"):
        for labels in label_counts:
            semisupervised(Results("semisupervised"), labels)
    if part in ("lossless", "all"):
        lossless(Results("lossless"))
    write_index()
    print(f"{part}: {time.perf_counter() - t0:.0f} s")


LOSSLESS_SECONDS = float(os.environ.get("LOSSLESS_SECONDS", 230))
LOSSLESS_CONFIG = dict(channels=32, num_layers=3, likelihood="categorical")
LOSSLESS_CHECK = 4  # test images decoded back from their range-coded files (784 network passes each batch)


def train_for_seconds(model, train, seconds: float, batch: int = 32) -> int:
    """Adam on shuffled batches until the wall-clock budget is spent; returns the number of steps."""
    opt = torch.optim.Adam(model.parameters(), lr=model.default_lr)
    g = torch.Generator().manual_seed(0)
    model.train()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for idx in torch.randperm(len(train), generator=g).split(batch):
            loss = model.loss((train.images[idx], torch.full((len(idx),), -1)))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - t0 >= seconds:
                break
    model.eval()
    return steps


@torch.no_grad()
def pixel_probs(model, levels: torch.Tensor) -> np.ndarray:
    """(N, H*W, L) float64 conditionals p(x_i | x_<i) of a one-channel categorical PixelCNN, raster order."""
    logits = model._logits(levels.float(), None)[:, 0]  # (N, L, H, W)
    return np.ascontiguousarray(torch.softmax(logits.double(), 1).flatten(2).transpose(1, 2).numpy())


def range_code(model, levels: torch.Tensor) -> list[bytes]:
    """One range-coded file (constriction, 32-bit words) per image of integer levels (N, 1, H, W).

    The network runs on batches of LOSSLESS_CHECK images, the batch size the decoder uses, so both sides
    compute bit-identical probabilities (a convolution's float result can depend on the batch shape)."""
    import constriction

    cat = constriction.stream.model.Categorical(perfect=False)
    probs = np.concatenate([pixel_probs(model, b) for b in levels.split(LOSSLESS_CHECK)])
    out = []
    for n in range(len(levels)):
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(levels[n].flatten().numpy().astype(np.int32), cat, probs[n])
        out.append(enc.get_compressed().astype("<u4").tobytes())
    return out


def range_decode(model, files: list[bytes], shape: tuple[int, int, int]) -> torch.Tensor:
    """Decode files written by `range_code`: pixel by pixel, each step one network pass on what is known."""
    import constriction

    cat = constriction.stream.model.Categorical(perfect=False)
    decs = [constriction.stream.queue.RangeDecoder(np.frombuffer(f, "<u4").astype(np.uint32)) for f in files]
    levels = torch.zeros(len(files), *shape)
    _, h, w = shape
    for i in range(h * w):
        probs = pixel_probs(model, levels)[:, i]
        for n, dec in enumerate(decs):
            levels[n, 0, i // w, i % w] = float(dec.decode(cat, probs[n : n + 1])[0])
    return levels


def lossless(res: Results, seconds: float = LOSSLESS_SECONDS) -> None:
    """Exact bits/dim of a categorical PixelCNN on the mnist5k test digits vs PNG files of the same digits."""
    from PIL import Image

    train, test = gz.data.load("mnist5k", split="train"), gz.data.load("mnist5k", split="test")
    torch.manual_seed(0)
    model = gz.create("pixelcnn", data=train, **LOSSLESS_CONFIG)
    steps = train_for_seconds(model, train, seconds)
    n, (c, h, w) = len(test), test.images.shape[1:]
    pixels = n * c * h * w
    with torch.no_grad():
        nats = torch.cat([model.log_prob(b) for b in test.images.split(100)]).double()
    bpd = float(-nats.sum() / (pixels * np.log(2)))
    params = sum(p.numel() for p in model.parameters())
    task = "mnist5k-test-lossless"
    budget = (
        f"{seconds:.0f} s training on 1 CPU thread, {steps} steps of batch 32 on mnist5k train (4000); "
        f"{n} held-out 28x28 8-bit test digits"
    )
    res.add(
        task, "genzoo-pixelcnn", "bpp", bpd, False,
        f"{budget}; exact -log2 p(x) / pixels, an ideal code length: a real entropy-coded file adds a few "
        "bytes per file",
        params=params, steps=steps, config=LOSSLESS_CONFIG,
    )
    levels = torch.round(test.images * 255).to(torch.uint8)
    files = range_code(model, levels.float())
    per_file = [len(f) for f in files]
    back = range_decode(model, files[:LOSSLESS_CHECK], (c, h, w))
    if not torch.equal(back, levels[:LOSSLESS_CHECK].float()):
        raise RuntimeError("range decoding did not reproduce the test digits")
    res.add(
        task, "genzoo-pixelcnn-rangecoded", "bpp", 8 * sum(per_file) / pixels, False,
        f"{budget}; real files: each digit range-coded (constriction, 32-bit words, no header) under the "
        f"model's conditionals; mean {statistics.mean(per_file):.1f} bytes per digit; the first "
        f"{LOSSLESS_CHECK} files decoded back to the exact digits",
    )

    def png_bytes(a: np.ndarray) -> int:
        buf = io.BytesIO()
        Image.fromarray(a, mode="L").save(buf, "PNG", optimize=True, compress_level=9)
        return len(buf.getvalue())

    arr = levels[:, 0].numpy()
    sizes = [png_bytes(a) for a in arr]
    res.add(
        task, "png", "bpp", 8 * sum(sizes) / pixels, False,
        f"{n} separate 8-bit greyscale PNG files (Pillow, optimize, compress_level 9); whole file bytes "
        f"incl. ~57 bytes of PNG chunks each; mean {statistics.mean(sizes):.1f} bytes per digit",
    )
    rows = 40  # 40 x 25 digits: one 1120 x 700 image
    mosaic = arr.reshape(rows, n // rows, h, w).transpose(0, 2, 1, 3).reshape(rows * h, -1)
    res.add(
        task, "png-mosaic", "bpp", 8 * png_bytes(np.ascontiguousarray(mosaic)) / pixels, False,
        f"the same {n} digits tiled {rows}x{n // rows} into one {mosaic.shape[1]}x{mosaic.shape[0]} 8-bit "
        "greyscale PNG (Pillow, optimize, compress_level 9)",
    )


def write_index() -> None:
    """latent.json: the rows of compression.json and semisupervised.json in one file, as the README reads them."""
    import json

    parts = [json.loads((RESULTS / f"{n}.json").read_text()) for n in ("compression", "semisupervised", "lossless")
             if (RESULTS / f"{n}.json").is_file()]
    index = Results("latent")
    index.rows = [dict(row, source=f"{part['benchmark']}.json") for part in parts for row in part["rows"]]
    index.write()


if __name__ == "__main__":
    counts = tuple(int(c) for c in sys.argv[2].split(",")) if len(sys.argv) > 2 else (SEMI_LABELS,)
    main(sys.argv[1] if len(sys.argv) > 1 else "all", counts)
