"""`genzoo imagine RUN "a large 3 to the left of a small 7" -n 8 -o grid.png`: text-to-image from a saved run.

Works with any model that can take a text condition (`dalle`, `t2i_diffusion`, `t2i_ldm`). Words the
model's vocabulary lacks are read as <unk> and named in one warning line; an empty prompt is refused.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from genzoo.errors import GenzooError
from genzoo.protocols import TextToImage


def add_commands(sub: Any) -> None:
    p = sub.add_parser("imagine", help="images from a caption with a text-to-image run (dalle, t2i_diffusion, ...)")
    p.add_argument("run", help="run directory of a text-to-image model")
    p.add_argument("prompt", help='the caption, e.g. "a large 3 to the left of a small 7"')
    p.add_argument("-n", type=int, default=8, help="number of images")
    p.add_argument("-o", "--output", default="imagined.png")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (0 = ignore text)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (diffusion models)")
    p.add_argument("--top-k", type=int, default=None, help="top-k sampling (dalle)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling (dalle)")
    p.add_argument("--rerank", type=int, default=1, help="draw K candidates per image, keep the best-read one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=4, help="enlarge the grid's pixels for viewing")
    p.set_defaults(func=cmd_imagine)


def cmd_imagine(args: argparse.Namespace) -> None:
    import genzoo as gz
    from genzoo.viz import save_grid

    if not args.prompt.strip():
        raise GenzooError('the prompt is empty: describe the image, e.g. "a large 3 to the left of a small 7"')
    if args.n < 1:
        raise GenzooError(f"-n must be at least 1, got {args.n}")
    model = gz.load(args.run, needs=TextToImage)
    kwargs: dict[str, Any] = {}
    if args.steps is not None:
        if args.steps < 1:
            raise GenzooError(f"--steps must be at least 1, got {args.steps}")
        kwargs["steps"] = args.steps
    for flag, key in ((args.top_k, "top_k"), (args.top_p, "top_p")):
        if flag is not None:
            kwargs[key] = flag
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            images = model.sample(args.n, prompt=args.prompt, guidance_scale=args.guidance, rerank=args.rerank,
                                  seed=args.seed, **kwargs)
        except TypeError as e:
            raise GenzooError(f"model {model.model_name!r} does not take these options ({e})") from None
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"genzoo: warning: {w.message}", file=sys.stderr)
    save_grid(images, args.output, nrow=min(args.n, 8), scale=args.scale)
    print(f"genzoo: wrote {args.output} ({args.n} images for {args.prompt!r})")
