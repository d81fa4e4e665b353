"""Neural style transfer benchmark -> benchmarks/results/style.json + side-by-side PNGs and a GIF.

What it measures (all offline, random multi-scale features since no VGG weights can be downloaded here):
* Gatys (L-BFGS and Adam) and the fast feed-forward net: content and style loss reached, seconds per
  image at 256 and 512 px (longest side), and the feed-forward speed-up over Gatys L-BFGS.
* Video: a synthetic pan/zoom across a photo (exact optical flow known), stylised frame by frame and with
  genzoo's temporally consistent mode (Farneback flow + occlusion mask + blending); warping error on
  non-occluded pixels with the exact flow, and the style loss of the frames.

Runs in ~8-10 minutes on a shared 2-core CPU. One torch thread: on this machine, shared with other
jobs, a second thread made small convolutions up to 15x slower (synchronisation), so timings are 1-thread.
    PYTHONPATH=src python benchmarks/style.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

from genzoo.models.style.fast_style import FastStyle  # noqa: E402
from genzoo.models.style.features import RandomFeatures  # noqa: E402
from genzoo.models.style.gatys import GatysConfig, StyleTargets, gatys_transfer  # noqa: E402
from genzoo.models.style.images import resize_longest, save_image  # noqa: E402
from genzoo.models.style.video_style import pan_zoom_video, stylize_video, warping_error, write_video  # noqa: E402

GATYS_STEPS = 20
FAST_STEPS = 200
FAST_PATCH = 96
VIDEO_FRAMES = 12
VIDEO_SIZE = (96, 128)
BLEND = 0.7
FAST_STYLE_WEIGHT = 10.0


def photo(name: str) -> torch.Tensor:
    from genzoo.data.images import photo_arrays

    arrays = dict(photo_arrays("all"))
    return torch.from_numpy(arrays[name]).permute(2, 0, 1).unsqueeze(0).float()


def panel_row(images: list[torch.Tensor], height: int = 112) -> torch.Tensor:
    """Images side by side at one height, white gaps between (kept small for the repository)."""
    out = []
    for x in images:
        w = max(1, round(x.shape[-1] * height / x.shape[-2]))
        out += [F.interpolate(x.float(), size=(height, w), mode="bilinear", antialias=True).clamp(0, 1),
                torch.ones(1, 3, height, 3)]
    return torch.cat(out[:-1], dim=-1)


def losses_of(targets: StyleTargets, image: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        c, s, _ = targets.losses(image)
    return float(c.mean()), float(s.mean())


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    res = Results("style")
    features = RandomFeatures()
    content_full, style = photo("china.jpg"), photo("immunohistochemistry")
    cfg_kw = dict(content_weight=1.0, style_weight=20.0)  # Gatys; style images at half the output size

    # -- fast network: train once (timed), then time a pass per size --------------------------------------
    import genzoo as gz

    train = gz.data.load("photos", split="train", patch=FAST_PATCH, n=2048)
    # style stored at 128 px: its texture (scale relative to pixels) then fits in the training patches
    model = FastStyle.for_style(style, data_info=train.info, features="random", channels=16, res_blocks=3,
                                style_size=128, style_weight=FAST_STYLE_WEIGHT)
    t0 = time.perf_counter()
    model = gz.fit(model, train, max_steps=FAST_STEPS, batch_size=4, lr=2e-3, progress=False)
    train_s = time.perf_counter() - t0
    model.eval()
    gz.save(model, Path(tempfile.gettempdir()) / "genzoo-style-benchmark-net")  # for a look afterwards
    fast_budget = (f"{FAST_STEPS} steps, batch 4, {FAST_PATCH}px photos patches, 16ch/3 res blocks, "
                   f"style weight {FAST_STYLE_WEIGHT}, 1 thread")
    res.add("fast-train", "genzoo", "train_seconds", train_s, False, fast_budget)

    for size in (256, 512):
        content = resize_longest(content_full, size)
        targets = StyleTargets(features, content, [resize_longest(style, size // 2)], features.content_layers,
                               features.style_layers)
        fast_times = []
        for _ in range(5):
            t = time.perf_counter()
            fast_out = model.stylize(content)
            fast_times.append(time.perf_counter() - t)
        fast_s = statistics.median(fast_times)
        runs = {"gatys_lbfgs": "lbfgs", "gatys_adam": "adam"} if size == 256 else {"gatys_lbfgs": "lbfgs"}
        outputs = {"fast": fast_out}
        for system, opt in runs.items():
            cfg = GatysConfig(steps=GATYS_STEPS, optimizer=opt, size=size, lr=0.03, style_scale=0.5, **cfg_kw)
            r = gatys_transfer(content, [style], config=cfg, features=features)
            budget = f"{GATYS_STEPS} {opt} steps, style weight 20, random features, 1 thread, one run"
            res.add(f"china-{size}px", system, "sample_seconds", r.seconds, False, budget)
            c, s = losses_of(targets, r.image)
            res.add(f"china-{size}px", system, "content_loss", c, False, budget)
            res.add(f"china-{size}px", system, "style_loss", s, False, budget)
            outputs[system] = r.image
            if system == "gatys_lbfgs":
                res.add(f"china-{size}px", "fast", "speedup_vs_gatys_lbfgs", r.seconds / fast_s, True,
                        f"one forward pass (median of 5) vs {GATYS_STEPS} L-BFGS steps")
        res.add(f"china-{size}px", "fast", "sample_seconds", fast_s, False,
                fast_budget + ", median of 5 passes")
        c, s = losses_of(targets, fast_out)
        res.add(f"china-{size}px", "fast", "content_loss", c, False, fast_budget)
        res.add(f"china-{size}px", "fast", "style_loss", s, False, fast_budget)
        c0, s0 = losses_of(targets, content)
        res.add(f"china-{size}px", "content_image", "style_loss", s0, False,
                "the unstylised photo (reference)")
        if size == 256:
            for system, image in outputs.items():
                save_image(panel_row([content, style, image]), RESULTS / f"style_{system}_256.png")

    # -- video: per-frame vs temporally consistent ----------------------------------------------------------
    frames, flows, masks = pan_zoom_video(content_full[0], VIDEO_FRAMES, VIDEO_SIZE)
    video_targets = StyleTargets(features, frames[:1], [model.style_image],
                                 features.content_layers, features.style_layers)
    budget = f"{VIDEO_FRAMES} frames {VIDEO_SIZE[1]}x{VIDEO_SIZE[0]} pan/zoom of china.jpg, exact flow metric"
    res.add("panzoom-video", "input_video", "warping_error", warping_error(frames, flows, masks), False,
            budget + " (the unstylised frames: the floor)")
    videos = {}
    for system, consistent in (("per_frame", False), ("genzoo", True)):
        t = time.perf_counter()
        out = stylize_video(frames, model.stylize, consistent=consistent, blend=BLEND)
        seconds = time.perf_counter() - t
        videos[system] = out
        how = f", Farneback flow + occlusion mask, blend {BLEND}" if consistent else ", fast net per frame"
        label = budget + how
        res.add("panzoom-video", system, "warping_error", warping_error(out, flows, masks), False, label)
        with torch.no_grad():
            s = float(np.mean([float(video_targets.losses(f[None])[1]) for f in out]))
        res.add("panzoom-video", system, "style_loss", s, False, label + " (mean over frames)")
        res.add("panzoom-video", system, "sample_seconds", seconds / len(frames), False,
                label + " (per frame)")
    gap = torch.ones(len(frames), 3, VIDEO_SIZE[0], 3)
    both = torch.cat([videos["per_frame"], gap, videos["genzoo"]], dim=-1)
    write_video(both, RESULTS / "style_video_perframe_vs_genzoo.gif", fps=8)
    print(f"wrote {RESULTS / 'style.json'}")


if __name__ == "__main__":
    main()
