"""Inpainting with any model that can inpaint: RePaint for unconditional diffusion models (Lugmayr et al.
2022, no retraining; `genzoo.models.diffusion.pipeline`), one pass for mask-conditioned ones (`inpaint_ddpm`).
Also the trivial baselines it is measured against (mean fill, biharmonic).

    genzoo inpaint runs/ddpm --image digit.png --mask hole.png -o filled.png     # white in the mask = fill
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.data.arrays import read_one_array
from genzoo.errors import GenzooError
from genzoo.protocols import Inpainter
from genzoo.registry import check_model


def inpaint(model: Any, image: Tensor, mask: Tensor, steps: int = 50, jump: int = 5, resample: int = 5,
            scheduler: str | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Fill the pixels where `mask` is 1 in `image` with `model.inpaint` (RePaint options pass through)."""
    check_model(model, Inpainter)
    return model.inpaint(image, mask, steps=steps, jump=jump, resample=resample, scheduler=scheduler,
                         generator=generator)


def mean_fill(image: Tensor, mask: Tensor) -> Tensor:
    """Baseline: every hole pixel becomes its image's mean known value (per channel)."""
    known = 1 - mask
    mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)
    return known * image + mask * mean


def biharmonic_fill(image: Tensor, mask: Tensor) -> Tensor:
    """Baseline: scikit-image's biharmonic inpainting (smooth interpolation from the hole's border)."""
    from skimage.restoration import inpaint_biharmonic

    out = []
    masks = mask.expand(len(image), 1, *image.shape[-2:]).cpu().numpy()
    for img, m in zip(image.cpu().numpy(), masks, strict=True):
        filled = inpaint_biharmonic(img, m[0] > 0.5, channel_axis=0)
        out.append(torch.from_numpy(filled).float())
    return torch.stack(out).clamp(0, 1)


# -- CLI ------------------------------------------------------------------------------------------
def read_image(path: str, what: str = "image") -> Tensor:
    """A PNG/JPEG (or .npy array) as (C, H, W) floats in [0, 1], channels as stored (L -> 1, RGB -> 3)."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise GenzooError(f"{what} file {path} does not exist")
    if p.suffix == ".npy":
        arr = read_one_array(p).astype(np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
        return torch.from_numpy(arr / (255.0 if arr.max() > 1 else 1.0))
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(p)
        img.load()
    except (UnidentifiedImageError, OSError):
        raise GenzooError(f"{what} file {path} is not a readable image") from None
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB" if img.mode in ("RGBA", "P", "CMYK", "YCbCr") else "L")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


def write_image(image: Tensor, path: str) -> None:
    """One (C, H, W) image in [0, 1] to a PNG of exactly its size (greyscale or RGB)."""
    from PIL import Image

    arr = (image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)


def cmd_inpaint(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run)
    image, mask = read_image(args.image), read_image(args.mask, "mask")
    if args.steps < 1:
        raise GenzooError(f"--steps must be at least 1, got {args.steps}")
    gen = torch.Generator(device=model.device).manual_seed(args.seed)
    out = inpaint(
        model,
        image,
        mask.mean(0, keepdim=True),
        steps=args.steps,
        jump=args.jump,
        resample=args.resample,
        generator=gen,
    )
    write_image(out[0], args.output)
    print(f"genzoo: wrote {args.output}")


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "inpaint", help="fill the white region of a mask with a trained diffusion model (RePaint or inpaint_ddpm)"
    )
    p.add_argument(
        "run", help="run directory of a trained diffusion model (ddpm: RePaint; inpaint_ddpm: one pass)"
    )
    p.add_argument("--image", required=True, help="image of the model's size and channels (.png or .npy)")
    p.add_argument("--mask", required=True, help="same size; white (>0.5) marks the pixels to fill")
    p.add_argument("-o", "--output", default="inpainted.png")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--jump", type=int, default=5)
    p.add_argument("--resample", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_inpaint)
