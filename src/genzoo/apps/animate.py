"""`genzoo animate`: clips from a trained video diffusion model, as GIF or MP4.

    genzoo train video_ddpm moving_digits --max-steps 2000 --out runs/video
    genzoo animate runs/video -n 4 -o clips.gif                              # new clips, side by side
    genzoo animate runs/video --first-frames clip.gif --predict 4 -o out.gif  # continue a clip
    genzoo animate runs/video --first-frames clip.gif --samples 8 -o mean.gif  # mean of 8 continuations
    genzoo animate runs/video --inpaint clip.gif --mask hole.png -o filled.gif  # fill a region in every frame

The clip given with --first-frames is resized to the model's frame size and channels (a different
aspect ratio is refused) and all its frames
are kept as the known start; continuations longer than the model's clips roll out autoregressively
(each pass sees the last T/2 frames). New clips (-n without --first-frames) have at most the model's T.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.protocols import Inpainter, Sampler, VideoPredictor, can


def _video_model(run: str) -> Any:
    import genzoo as gz

    return gz.load(run, needs=VideoPredictor)


def _read_for(model: Any, path: str, frames: int | None = None) -> Any:
    """A clip resized to the model's frames; a different aspect ratio is refused rather than distorted."""
    from torch.nn import functional as F

    from genzoo.data.video import read_clip

    c, _, h, w = model.config.video_shape
    clip = read_clip(path, frames=frames, channels=c)
    ch, cw = clip.shape[-2:]
    if ch * w != cw * h:
        raise GenzooError(f"clip {path} has {cw}x{ch} frames but the model makes {w}x{h} frames "
                          "(a different aspect ratio); crop it first")
    if (ch, cw) != (h, w):
        clip = F.interpolate(clip.transpose(0, 1), size=(h, w), mode="area").transpose(0, 1)
    return clip


def cmd_animate(args: argparse.Namespace) -> None:
    import torch

    from genzoo.data.video import CLIP_SUFFIXES, write_clip

    if args.n < 1:
        raise GenzooError(f"-n must be at least 1, got {args.n}")
    if args.steps < 1:
        raise GenzooError(f"--steps must be at least 1, got {args.steps}")
    if args.samples > 1 and not args.first_frames:
        raise GenzooError("--samples averages continuations; it needs --first-frames")
    if args.fps <= 0:
        raise GenzooError(f"--fps must be positive, got {args.fps}")
    suffix = Path(args.output).suffix.lower()
    if suffix not in CLIP_SUFFIXES:
        raise GenzooError(f"cannot write a clip as {suffix or 'a file without suffix'!r}; use .gif or .mp4")
    model = _video_model(args.run)
    _, frames, h, w = model.config.video_shape
    gen = torch.Generator(device=model.device).manual_seed(args.seed)
    opts = dict(steps=args.steps, scheduler=args.sampler, generator=gen)
    if args.first_frames and args.inpaint:
        raise GenzooError("give either --first-frames or --inpaint, not both")
    if args.first_frames:
        first = _read_for(model, args.first_frames)
        if args.samples > 1:
            if not can(model, Sampler):
                raise GenzooError(f"model {model.model_name!r} predicts deterministically; --samples needs a "
                                  "generative model (video_ddpm)")
            opts["samples"] = args.samples
        clips = model.predict(first.unsqueeze(0).expand(args.n, -1, -1, -1, -1), args.predict, **opts)
    elif args.inpaint:
        if not can(model, Inpainter):
            raise GenzooError(f"model {model.model_name!r} cannot inpaint clips; give --first-frames to continue one")
        if not args.mask:
            raise GenzooError("--inpaint needs --mask (an image; white marks the region to fill in every frame)")
        from genzoo.apps.inpaint import read_image

        clip = _read_for(model, args.inpaint, frames)
        mask = read_image(args.mask, "mask").mean(0)
        if tuple(mask.shape) != (h, w):
            raise GenzooError(f"mask must be {h}x{w} like the model's frames, got {mask.shape[0]}x{mask.shape[1]}")
        clips = model.inpaint(clip.unsqueeze(0).expand(args.n, -1, -1, -1, -1), mask, method=args.method, **opts)
    else:
        if args.predict is not None:
            raise GenzooError("--predict needs --first-frames (the clip to continue)")
        if not can(model, Sampler):
            raise GenzooError(f"model {model.model_name!r} has nothing to sample; give --first-frames to continue")
        clips = model.sample(args.n, frames=args.frames, **opts)
    path = write_clip(clips, args.output, fps=args.fps, scale=args.scale)
    print(f"genzoo: wrote {path} ({len(clips)} clip(s) of {clips.shape[2]} frames)")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("animate", help="generate, continue or inpaint clips with a trained video model (GIF/MP4)")
    p.add_argument("run", help="run directory of a trained video model (video_ddpm; simvp continues clips only)")
    p.add_argument("-n", type=int, default=4, help="number of clips (written side by side)")
    p.add_argument("-o", "--output", default="clip.gif", help=".gif or .mp4")
    p.add_argument("--frames", type=int, default=None, help="frames per new clip (at most the model's)")
    p.add_argument("--first-frames", default=None, help="a GIF/MP4 whose frames start every clip")
    p.add_argument("--predict", type=int, default=None,
                   help="frames to add after --first-frames (default: up to the model's clip length)")
    p.add_argument("--samples", type=int, default=1,
                   help="with --first-frames: average K sampled continuations (lower MSE, blurrier; default 1)")
    p.add_argument("--inpaint", default=None, help="a GIF/MP4 clip to fill in (with --mask)")
    p.add_argument("--mask", default=None, help="image of the frame size; white = fill, in every frame")
    p.add_argument("--method", default="conditioned", choices=("conditioned", "replace"))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--sampler", default=None, help="ddim (default), ddpm or dpm++")
    p.add_argument("--fps", type=float, default=6.0)
    p.add_argument("--scale", type=int, default=2, help="pixel upscaling of the written clip")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_animate)
