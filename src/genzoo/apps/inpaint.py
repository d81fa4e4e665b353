"""Inpainting with any trained unconditional diffusion model: RePaint (Lugmayr et al. 2022), no retraining.

(A model with its own `inpaint` method, such as the mask-conditioned `inpaint_ddpm`, is used directly.)

At every reverse step the known pixels are replaced by the original image noised to the current level, so
the model only invents the hole; every `jump` steps the sample is pushed back `jump` steps with fresh
forward noise and denoised again (`resample` times), which lets the hole's content harmonise with what
surrounds it. The known pixels of the result are exactly the input's.

    genzoo inpaint runs/ddpm --image digit.png --mask hole.png -o filled.png     # white in the mask = fill
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError


def check_pair(model: Any, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Refuse images/masks that do not fit the model, in one line; masks broadcast over channels."""
    shape = tuple(getattr(model.config, "image_shape", ()))
    if not hasattr(model, "make_scheduler") or not shape:
        raise GenzooError(
            f"model {getattr(model, 'model_name', '?')!r} is not a diffusion model; "
            "inpainting needs one (e.g. ddpm)"
        )
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask.unsqueeze(0)
    if image.ndim != 4 or tuple(image.shape[1:]) != shape:
        raise GenzooError(f"image must be {shape} (C, H, W) for this model, got {tuple(image.shape[-3:])}")
    if mask.ndim != 4 or mask.shape[-2:] != image.shape[-2:] or mask.shape[1] not in (1, shape[0]):
        raise GenzooError(f"mask must be {shape[1]}x{shape[2]} like the image, got shape {tuple(mask.shape)}")
    if len(mask) not in (1, len(image)):
        raise GenzooError(f"need one mask or one per image ({len(image)}), got {len(mask)}")
    return image.float().clamp(0, 1), (mask.float() > 0.5).float()


@torch.no_grad()
def inpaint(
    model: Any,
    image: Tensor,
    mask: Tensor,
    steps: int = 50,
    jump: int = 5,
    resample: int = 5,
    scheduler: str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill the pixels where `mask` is 1 in `image` ((N, C, H, W) or (C, H, W), in [0, 1]).

    A model with its own `inpaint(image, mask, ...)` method (a mask-conditioned one such as
    `inpaint_ddpm`) does it in one sampling pass of `steps`. Any other unconditional diffusion model gets
    RePaint: `steps` reverse steps (DDPM sampler unless `scheduler` says otherwise), with a jump back of
    `jump` steps repeated `resample - 1` times at every `jump`-th step (resample=1 is plain "replacement"
    inpainting). Cost ~ steps * resample evaluations.
    """
    if jump < 1 or resample < 1:
        raise GenzooError(f"jump and resample must be at least 1, got {jump} and {resample}")
    if callable(getattr(model, "inpaint", None)):
        return model.inpaint(image, mask, steps=steps, scheduler=scheduler, generator=generator)
    image, mask = check_pair(model, image, mask)
    if getattr(model.config, "cond_channels", 0):
        raise GenzooError("RePaint needs an unconditional image model, not an image-conditioned one")
    scheduler = scheduler or "ddpm"
    device = model.device
    image, mask = image.to(device), mask.to(device)
    known = 1 - mask
    x0 = image * 2 - 1
    sched = model.make_scheduler(scheduler, steps)
    schedule, ts = model.schedule, sched.timesteps
    x = torch.randn(x0.shape, generator=generator, device=device)
    remaining = {i: resample - 1 for i in range(jump, len(ts), jump)}
    i = 0
    while i < len(ts):
        t = ts[i]
        noise = torch.randn(x0.shape, generator=generator, device=device)
        noisy_known = schedule.add_noise(x0, noise, torch.full((len(x0),), t, device=device))
        x = known * noisy_known + mask * x
        x = sched.step(model.model_output(x, t), t, x, generator)
        i += 1
        if remaining.get(i, 0) > 0:
            remaining[i] -= 1
            x = schedule.renoise(x, ts[i], ts[i - jump], generator)
            i -= jump
            sched.reset()
    out = ((x + 1) / 2).clamp(0, 1)
    return known * image + mask * out


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
        arr = np.load(p, allow_pickle=False).astype(np.float32)
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
