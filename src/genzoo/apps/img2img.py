"""`genzoo img2img RUN --image X -o Y`: run a trained pix2pix model on one image of any size."""

from __future__ import annotations

import argparse
from typing import Any

from genzoo.protocols import ImageToImage


def add_commands(sub: Any) -> None:
    p = sub.add_parser("img2img", help="paired image-to-image translation with a trained pix2pix run")
    p.add_argument("run")
    p.add_argument("--image", required=True, help="source image file (e.g. a grey photo or an edge map)")
    p.add_argument("-o", "--output", default="translated.png")
    p.set_defaults(func=cmd_img2img)


def cmd_img2img(args: argparse.Namespace) -> None:
    import torch

    import genzoo as gz
    from genzoo.data.files import read_image
    from genzoo.viz import save_grid

    model = gz.load(args.run, needs=ImageToImage)
    channels = int(model.config.source_shape[0])
    source = torch.from_numpy(read_image(args.image, channels=channels)).permute(2, 0, 1)
    save_grid(model.translate(source).unsqueeze(0), args.output, nrow=1)
    print(f"genzoo: wrote {args.output}")
