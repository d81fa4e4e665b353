"""What the super-resolution benchmarks (srgan.py, sr3.py) share: held-out sets, metrics, timing, pictures.

Held-out sets, all from the test photos (china, flower), which the `photos` train split never contains:

- `patches`: 256 random 32x32 crops (the dataset's test seed) -> 8x8 inputs, the figure issue #17 quotes;
- `patches-seed2`: 256 other crops of the same photos (seed 2), a second draw;
- `full`: the two whole photos (cropped to a multiple of 4), each x4 from about 106x160: no patch borders.

Metrics per set: PSNR (genzoo.metrics.restoration, the mean over images of 10 log10(1/MSE)), SSIM (torchmetrics,
Gaussian 11x11 window, the mean over images) and `sharpness_ratio`:

    mean Sobel gradient magnitude of the output's luminance / the same for the true high-res images

(1.0 = as much edge energy as the truth; bicubic blurs, so it sits below 1; above 1 means invented or
exaggerated detail). The low-resolution inputs are genzoo's own degradation, antialiased bicubic x1/4.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

import genzoo as gz
from genzoo.data.images import photo_arrays
from genzoo.metrics.restoration import psnr
from genzoo.nn.resample import bicubic_upscale, downscale
from genzoo.viz import save_grid

SCALE = 4
SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
Upscale = Callable[[Tensor], Tensor]


def held_out_sets(smoke: bool) -> dict[str, list[Tensor]]:
    """Each set is a list of (N, 3, H, W) high-res batches (one batch of patches, or one per whole photo)."""
    n = 16 if smoke else 256
    sets = {
        "patches": [gz.data.load("photos", split="test", patch=32, n=n).images],
        "patches-seed2": [gz.data.load("photos", split="test", patch=32, n=n, seed=2).images],
    }
    full = []
    for _, array in photo_arrays("test"):
        img = torch.from_numpy(array).permute(2, 0, 1)[None]
        h, w = img.shape[-2:]
        full.append(img[..., : h // SCALE * SCALE, : w // SCALE * SCALE].contiguous())
    sets["full"] = [f[..., :64, :96] for f in full] if smoke else full
    return sets


class TrainingPatches:
    """Random crops of the train photos, drawn so that training time goes where bicubic fails.

    Half the crops of these photos are nearly flat (sky, background), where bicubic is already within
    ~1/255 and there is nothing to learn; batches draw 3/4 of their patches from the more textured half
    of the pool (ranked by bicubic's own error) and 1/4 from the flatter half, so the model still learns to
    leave flat regions alone. Each batch is flipped/transposed by one of the 8 symmetries of the square.
    """

    def __init__(self, n: int, patch: int = 32) -> None:
        self.images = gz.data.load("photos", split="train", patch=patch, n=n).images
        err = (bicubic_upscale(downscale(self.images, SCALE), SCALE) - self.images).pow(2).flatten(1).mean(1)
        self.weights = torch.where(err > err.median(), 3.0, 1.0)

    def batch(self, size: int, generator: torch.Generator) -> Tensor:
        x = self.images[torch.multinomial(self.weights, size, replacement=True, generator=generator)]
        k = int(torch.randint(0, 8, (1,), generator=generator))
        x = x.flip(-1) if k & 1 else x
        x = x.flip(-2) if k & 2 else x
        return x.transpose(-1, -2) if k & 4 else x


def gradient_energy(images: Tensor) -> float:
    """Mean Sobel gradient magnitude of the luminance (valid convolution: no border artefacts)."""
    y = (images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    g = F.conv2d(y, torch.stack([SOBEL, SOBEL.T]).unsqueeze(1))
    return float(g.pow(2).sum(1).sqrt().mean())


def scores(outs: list[Tensor], truths: list[Tensor]) -> dict[str, float]:
    """PSNR, SSIM (means over all images of the set) and the sharpness ratio of one set's outputs."""
    pred, true = [o.float().clamp(0, 1) for o in outs], [t.float() for t in truths]
    count = sum(len(t) for t in true)
    p = sum(psnr(o, t) * len(t) for o, t in zip(pred, true, strict=True)) / count
    s = (
        sum(
            float(structural_similarity_index_measure(o, t, data_range=1.0, reduction="none").sum())
            for o, t in zip(pred, true, strict=True)
        )
        / count
    )
    sharp = sum(gradient_energy(o) * len(o) for o in pred) / sum(gradient_energy(t) * len(t) for t in true)
    return {"psnr": p, "ssim": s, "sharpness_ratio": sharp}


def evaluate(
    upscale: Upscale, sets: dict[str, list[Tensor]], outputs: dict[str, list[Tensor]] | None = None
) -> dict[str, dict[str, float]]:
    """Scores of `upscale` (low-res -> x4) on every held-out set; each set's outputs go into `outputs`."""
    out = {}
    for name, truths in sets.items():
        made = [upscale(downscale(t, SCALE)) for t in truths]
        out[name] = scores(made, truths)
        if outputs is not None:
            outputs[name] = made
    return out


def bicubic(lowres: Tensor) -> Tensor:
    return bicubic_upscale(lowres, SCALE)


class Clock:
    """Training wall-clock that stops while the learning curve is measured, so probes cost no budget."""

    def __init__(self) -> None:
        self.spent, self._start = 0.0, time.perf_counter()

    def elapsed(self) -> float:
        return self.spent + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def pause(self) -> None:
        self.spent, self._start = self.elapsed(), None

    def resume(self) -> None:
        self._start = time.perf_counter()


def train_for(
    step: Callable[[int, float], None],
    seconds: float,
    probe: Callable[[], float],
    every: float,
    clock: Clock | None = None,
) -> tuple[int, list[dict[str, float]]]:
    """Call step(i, fraction_of_budget) until `seconds` of training; probe() every `every` seconds.

    Returns (steps, curve): curve points {"seconds", "steps", "psnr"} include the start and the end; with a
    `clock` carried over from an earlier stage, seconds continue from it.
    """
    clock = clock or Clock()
    start = clock.elapsed()
    curve: list[dict[str, float]] = []

    def point(i: int) -> None:
        clock.pause()
        curve.append({"seconds": round(clock.elapsed(), 1), "steps": i, "psnr": round(probe(), 3)})
        print(f"  {curve[-1]}", flush=True)
        clock.resume()

    point(0)
    i, next_probe = 0, start + every
    while (t := clock.elapsed()) - start < seconds:
        step(i, (t - start) / seconds)
        i += 1
        if clock.elapsed() >= next_probe:
            point(i)
            next_probe += every
    if curve[-1]["steps"] != i:
        point(i)
    return i, curve


def save_comparison(path: Path, columns: dict[str, Tensor]) -> None:
    """One row per example, the columns side by side (e.g. bicubic | genzoo | original), 2x enlarged."""
    cells = torch.stack(list(columns.values()), dim=1).flatten(0, 1)
    save_grid(cells, path, nrow=len(columns), scale=2)


def textured_boxes(image: Tensor, size: int = 64, n: int = 3) -> list[tuple[int, int, int]]:
    """(row, col, size) of the n non-overlapping crops of a (1, 3, H, W) image where bicubic errs most."""
    err = (bicubic(downscale(image, SCALE)) - image).pow(2).mean(1, keepdim=True)
    energy = F.avg_pool2d(err, size, stride=size // 2)[0, 0]
    picks: list[tuple[int, int]] = []
    for flat in energy.flatten().argsort(descending=True).tolist():
        r, c = divmod(flat, energy.shape[1])
        if all(abs(r - r2) >= 2 or abs(c - c2) >= 2 for r2, c2 in picks):
            picks.append((r, c))
        if len(picks) == n:
            break
    return [(r * size // 2, c * size // 2, size) for r, c in picks]


def crop(image: Tensor, boxes: list[tuple[int, int, int]]) -> Tensor:
    return torch.cat([image[..., r : r + s, c : c + s] for r, c, s in boxes])


#: row fields kept only on the row a learning curve belongs to (PSNR on the issue's held-out patches)
CURVE_FIELDS = ("curve", "curve_note")


def report(res: Any, name: str, systems: dict[str, tuple[Upscale, str, dict[str, Any]]],
           sets: dict[str, list[Tensor]], smoke: bool) -> None:
    """Every system's rows on every held-out set, then the bicubic | genzoo | original picture.

    systems: name -> (upscale, budget, extra row fields); the curve fields go on the PSNR-on-patches row only.
    """
    full: dict[str, list[Tensor]] = {}
    for system, (upscale, budget, extra) in systems.items():
        outputs: dict[str, list[Tensor]] = {}
        for set_name, metrics in evaluate(upscale, sets, outputs).items():
            for metric, value in metrics.items():
                keep = {k: v for k, v in extra.items()
                        if k not in CURVE_FIELDS or (metric, set_name) == ("psnr", "patches")}
                if metric == "sharpness_ratio":
                    keep["target"] = 1.0  # the truth's own edge energy; above it is invented detail
                res.add(f"superres-x4-{set_name}", system, metric, value, True, budget, **keep)
        full[system] = outputs["full"]
    boxes = [textured_boxes(image, size=32 if smoke else 64) for image in sets["full"]]
    columns = {k: torch.cat([crop(o, b) for o, b in zip(v, boxes, strict=True)]) for k, v in full.items()}
    columns["original"] = torch.cat([crop(image, b) for image, b in zip(sets["full"], boxes, strict=True)])
    save_comparison(res.file(name), columns)
