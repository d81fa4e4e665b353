"""Super-resolution: `genzoo upscale RUN --image small.png -o big.png` with any model that can `upscale`.

The verb dispatches on the loaded model, so every family's super-resolution model plugs in the same way:
anything with `upscale(lowres: (N, C, h, w) in [0, 1]) -> (N, C, s*h, s*w)` works (the diffusion family's
`sr3`; a GAN's SRGAN can add the same method).

    genzoo train sr3 --data photos --max-steps 3000 --out runs/sr3
    genzoo upscale runs/sr3 --image small.png -o big.png
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.protocols import Upscaler
from genzoo.registry import check_model


def upscale(model: Any, lowres: Tensor, **kwargs: Any) -> Tensor:
    """Super-resolve (N, C, h, w) or (C, h, w) images in [0, 1] with `model.upscale`."""
    check_model(model, Upscaler)
    if lowres.ndim == 3:
        lowres = lowres.unsqueeze(0)
    return model.upscale(lowres.float(), **kwargs)


def cmd_upscale(args: argparse.Namespace) -> None:
    import genzoo as gz
    from genzoo.apps.inpaint import read_image, write_image

    model = gz.load(args.run)
    image = read_image(args.image)
    kwargs: dict[str, Any] = {}
    if args.steps is not None:
        if args.steps < 1:
            raise GenzooError(f"--steps must be at least 1, got {args.steps}")
        kwargs["steps"] = args.steps
    torch.manual_seed(args.seed)
    out = upscale(model, image, **kwargs)
    write_image(out[0], args.output)
    print(f"genzoo: wrote {args.output} ({out.shape[-1]}x{out.shape[-2]})")


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "upscale", help="super-resolve an image with a trained model (sr3, or any with .upscale)"
    )
    p.add_argument("run", help="run directory of a super-resolution model")
    p.add_argument("--image", required=True, help="low-resolution image (.png/.jpg or .npy)")
    p.add_argument("-o", "--output", default="upscaled.png")
    p.add_argument("--steps", type=int, default=None, help="sampler steps for diffusion models")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_upscale)
