"""Style transfer verbs: `genzoo stylize`, `genzoo stylize-video`, `genzoo train-style`.

    genzoo stylize --content photo.jpg --style painting.jpg -o out.png                 # Gatys (L-BFGS)
    genzoo stylize --content photo.jpg --style a.jpg b.jpg --style-weights 0.7 0.3 --preserve-color -o out.png
    genzoo train-style --style painting.jpg --out runs/starry --max-steps 2000          # fast net on photos
    genzoo stylize --content photo.jpg --method fast --run runs/starry -o out.png
    genzoo stylize-video --input clip.mp4 --run runs/starry -o styled.gif               # consistent
    genzoo stylize-video --input photo.jpg --pan-zoom --run runs/starry -o demo.gif     # synthetic test clip

Heavy imports (torch, cv2, imageio) happen inside the handlers: the CLI imports every app at start-up.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from genzoo.errors import GenzooError
from genzoo.protocols import Stylizer

if TYPE_CHECKING:
    from torch import Tensor

    from genzoo.models.style.fast_style import FastStyle


def train_fast_style(
    style: Tensor,
    data: str = "photos",
    *,
    max_steps: int | None = 1000,
    batch_size: int = 4,
    patch: int = 128,
    out: str | os.PathLike[str] | None = None,
    fit_options: dict[str, Any] | None = None,
    **config: Any,
) -> FastStyle:
    """Train a fast style net for `style` on `photos` patches (or a folder of same-sized images)."""
    import genzoo as gz
    from genzoo.models.style.fast_style import FastStyle

    train = (
        gz.data.load(data, split="train", patch=patch)
        if data == "photos"
        else gz.data.load(data, split="all")
    )
    model = FastStyle.for_style(style, data_info=train.info, **config)
    return gz.fit(model, train, max_steps=max_steps, batch_size=batch_size, out=out, **(fit_options or {}))


def add_commands(sub: Any) -> None:
    from genzoo.cli_args import add_fit_arguments, add_model_option_argument

    p = sub.add_parser("stylize", help="neural style transfer of one image (gatys or a trained fast net)")
    p.add_argument("--content", required=True, help="content image file")
    p.add_argument("--style", nargs="+", default=[], help="style image file(s) (gatys)")
    p.add_argument("--style-weights", nargs="+", type=float, default=None, help="one weight per style image")
    p.add_argument("--method", choices=("gatys", "fast"), default="gatys")
    p.add_argument("--run", default=None, help="trained fast_style run directory (--method fast)")
    p.add_argument("-o", "--output", default="stylized.png")
    p.add_argument(
        "--size", type=int, default=256, help="longest side of the output in pixels (0: content's own)"
    )
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--lr", type=float, default=0.03, help="Adam step size")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=20.0)
    p.add_argument("--tv-weight", type=float, default=0.0)
    p.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the output")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument(
        "--preserve-color", action="store_true", help="transfer luminance only; keep content colours"
    )
    _feature_arguments(p)
    p.add_argument("--side-by-side", action="store_true", help="write content | style | result instead")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser(
        "stylize-video", help="stylise a GIF/MP4 with a trained fast net, temporally consistent"
    )
    p.add_argument("--input", required=True, help="video (GIF/MP4); with --pan-zoom, a still image")
    p.add_argument("--run", required=True, help="trained fast_style run directory")
    p.add_argument("-o", "--output", default="stylized.gif", help=".gif or .mp4")
    p.add_argument("--mode", choices=("consistent", "per-frame"), default="consistent")
    p.add_argument("--blend", type=float, default=0.7, help="weight of the flow-warped previous frame")
    p.add_argument("--size", type=int, default=None, help="resize frames so the longest side is this")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's)")
    p.add_argument(
        "--pan-zoom",
        type=int,
        default=0,
        metavar="FRAMES",
        help="treat --input as a photo and film a synthetic pan/zoom of this many frames",
    )
    p.set_defaults(func=cmd_stylize_video)

    p = sub.add_parser("train-style", help="train a fast feed-forward style network for one style image")
    p.add_argument("--style", required=True, help="style image file")
    p.add_argument(
        "--data", default="photos", help="photos (random patches) or a folder of same-sized images"
    )
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--patch", type=int, default=128, help="training patch size (photos)")
    add_model_option_argument(
        p, "fast_style config key=value, e.g. -O style_weight=30 -O channels=16 (repeatable)"
    )
    _feature_arguments(p)
    add_fit_arguments(p)
    p.set_defaults(func=cmd_train_style, batch_size=4)


def _feature_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--features",
        choices=("auto", "vgg16", "vgg19", "random", "trained"),
        default="auto",
        help="feature network for the losses (auto: VGG if its weights are cached, else random)",
    )
    p.add_argument("--weights", default=None, help="torchvision VGG state-dict file (.pth or .safetensors)")


def cmd_stylize(args: argparse.Namespace) -> None:
    from genzoo.models.style.images import load_image, resize_longest, save_image

    content = load_image(args.content)
    size = args.size or None
    if args.method == "fast":
        model = _load_fast(args.run)
        if content.shape[1] != 3:
            raise GenzooError(f"{args.content} is greyscale; the fast network stylises RGB images")
        result = model.stylize(resize_longest(content, size))
        styles = [model.style_image]
    else:
        from genzoo.models.style.features import build_features
        from genzoo.models.style.gatys import GatysConfig, gatys_transfer

        if not args.style:
            raise GenzooError("--method gatys needs --style IMAGE [IMAGE ...]")
        styles = [load_image(s) for s in args.style]
        config = GatysConfig(
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            tv_weight=args.tv_weight,
            steps=args.steps,
            optimizer=args.optimizer,
            lr=args.lr,
            size=size,
            style_scale=args.style_scale,
            init=args.init,
            preserve_color=args.preserve_color,
            seed=args.seed,
        )
        features = build_features(args.features, args.weights)
        out = gatys_transfer(content, styles, args.style_weights, config, features)
        result = out.image
        print(
            f"genzoo: content loss {out.content_loss:.4f}, style loss {out.style_loss:.4f}, "
            f"{out.seconds:.1f} s ({features.kind} features)"
        )
    if args.side_by_side:
        result = side_by_side(
            resize_longest(content, result.shape[-1] if size is None else size), styles, result
        )
    save_image(result, args.output)
    print(f"genzoo: wrote {args.output}")


def side_by_side(content: Tensor, styles: list[Tensor], result: Tensor) -> Tensor:
    """content | style(s) | result in one row, every panel scaled to the result's height."""
    import torch
    from torch.nn import functional as F

    h = result.shape[-2]

    def fit(x: Tensor) -> Tensor:
        x = x.float()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        w = max(1, round(x.shape[-1] * h / x.shape[-2]))
        return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    panels = [fit(content)] + [fit(s) for s in styles] + [fit(result)]
    gap = torch.ones(1, 3, h, 4)
    row = [p for panel in panels for p in (panel, gap)][:-1]
    return torch.cat(row, dim=-1)


def _load_fast(run: str | None) -> Any:
    import genzoo as gz

    if not run:
        raise GenzooError("--method fast needs --run RUN (train one with `genzoo train-style`)")
    return gz.load(run, needs=Stylizer)


def cmd_stylize_video(args: argparse.Namespace) -> None:
    from genzoo.models.style.images import load_image, resize_longest
    from genzoo.models.style.video_style import pan_zoom_video, read_video, stylize_video, write_video

    if args.pan_zoom:
        if args.pan_zoom < 2:
            raise GenzooError(f"--pan-zoom needs at least 2 frames, got {args.pan_zoom}")
        photo = load_image(args.input)
        if photo.shape[1] != 3:
            photo = photo.expand(-1, 3, -1, -1)
        side = args.size or 256
        frames, _, _ = pan_zoom_video(photo[0], args.pan_zoom, (side * 3 // 4, side))
        fps = 10.0
    else:
        frames, fps = read_video(args.input, args.max_frames)
        frames = resize_longest(frames, args.size)
    model = _load_fast(args.run)
    out = stylize_video(frames, model.stylize, consistent=args.mode == "consistent", blend=args.blend)
    write_video(out, args.output, args.fps or fps)
    print(f"genzoo: wrote {args.output} ({len(out)} frames, {args.mode})")


def cmd_train_style(args: argparse.Namespace) -> None:
    from genzoo.cli_args import fit_kwargs, parse_overrides
    from genzoo.models.style.images import load_image

    style = load_image(args.style)
    if style.shape[1] != 3:
        raise GenzooError(
            f"style image {args.style} is greyscale; the fast network is trained for RGB styles"
        )
    if args.max_steps is None and args.max_epochs is None:
        args.max_steps = 1000
    fit = fit_kwargs(args)
    options = parse_overrides(args.option)
    options.setdefault("features", args.features)
    if args.weights:
        options.setdefault("weights", args.weights)
    batch = fit.pop("batch_size")
    steps = fit.pop("max_steps")
    train_fast_style(
        style,
        args.data,
        max_steps=steps,
        batch_size=batch,
        patch=args.patch,
        out=args.out,
        fit_options=fit,
        **options,
    )
    print(f"genzoo: trained fast_style -> {args.out}")
