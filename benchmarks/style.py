"""Neural style transfer benchmark -> benchmarks/results/style.json (+ style_textures.json) and pictures.

Two parts (`--part speed | textures | all`):

`textures` -> style_textures.json + style_textures.png (+ _synthesis.png): which offline feature network
shows a style's texture. The held-out photo china.jpg is stylised by Gatys L-BFGS with brick, gravel and
grass (scikit-image's texture photos; the central 256px of each, shown at 128px) under each candidate:
the old random bank (64 Gaussian filters per scale), zero-mean banks with 64 and 256 filters per scale
plus a colour layer (the 256 bank also at style weight 100), and genzoo's self-trained rotation net; each
texture is also synthesised from noise (content weight 0) with the old and the 256 bank.
The judge is a network none of them optimised: a random deep VGG-shaped net (other architecture, other
seed, Kaiming init; random deep nets are known texture descriptors) that sees each image minus its mean
colour, scoring the relative Gram distance to the style (lower = more of the style's texture) and the
relative feature distance to the content photo (lower = more of the photo kept). The trained net judges
the random routes too, and a net-free score compares radially averaged luminance power spectra (log10;
texture scale and contrast). Baselines: the content photo unchanged and per-channel colour-histogram
transfer (synthesis: the noise it starts from).

`speed` -> style.json: what it measures (all offline, random multi-scale features since no VGG weights
can be downloaded here):
* Gatys (L-BFGS and Adam) and the fast feed-forward net: content and style loss reached, seconds per
  image at 256 and 512 px (longest side), and the feed-forward speed-up over Gatys L-BFGS.
* Video: a synthetic pan/zoom across a photo (exact optical flow known), stylised frame by frame and with
  genzoo's temporally consistent mode (Farneback flow + occlusion mask + blending); warping error on
  non-occluded pixels with the exact flow, and the style loss of the frames.

The speed part runs in ~8-10 minutes on a shared 2-core CPU, the texture part in ~7. One torch thread:
on this machine, shared with other jobs, a second thread made small convolutions up to 15x slower
(synchronisation), so timings are 1-thread.
    PYTHONPATH=src python benchmarks/style.py --part textures [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results  # noqa: E402

from genzoo.models.style.fast_style import FastStyle  # noqa: E402
from genzoo.models.style.features import (  # noqa: E402
    FeatureExtractor,
    RandomFeatures,
    VGGFeatures,
    trained_features,
)
from genzoo.models.style.gatys import GatysConfig, StyleTargets, gatys_transfer  # noqa: E402
from genzoo.models.style.images import load_style, resize_longest, save_image  # noqa: E402
from genzoo.models.style.losses import content_loss, gram, style_loss  # noqa: E402
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


def speed_and_video() -> None:
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


# -- textures: which offline feature network shows the style --------------------------------------------------
TEXTURE_SIZE = 128  # longest side of content and style images (CPU budget)
TEXTURE_STEPS = 150
TEXTURES = ("brick", "gravel", "grass")
JUDGE_PLAN = (48, 48, "M", 96, 96, "M", 192, 192, "M", 256, 256)


def random_judge(seed: int = 1234) -> VGGFeatures:
    """A random deep VGG-shaped net (Kaiming-normal weights, zero bias): no candidate route optimises it."""
    torch.manual_seed(seed)
    net = VGGFeatures(JUDGE_PLAN, pool="avg", normalize=((0.45,) * 3, (0.25,) * 3))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    net.kind = "random-vgg-judge"
    return net.eval().requires_grad_(False)


class CentredJudge(FeatureExtractor):
    """A judge sees each image minus its own mean colour, so its Grams score texture, not the colour cast
    (uncentred, a deep ReLU net's Grams are dominated by the mean brightness and colour of the image).

    `unit_contrast` also scales each image to one luminance spread: the Grams then score the texture's
    structure alone, and a pointwise colour map (histogram transfer) can no longer win by contrast only.
    """

    def __init__(self, net: FeatureExtractor, unit_contrast: bool = False) -> None:
        super().__init__()
        self.net, self.unit_contrast = net, unit_contrast
        self.layers, self.style_layers, self.content_layers = net.layers, net.style_layers, net.content_layers

    def forward(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        x = x.expand(-1, 3, -1, -1)
        x = x - x.mean(dim=(2, 3), keepdim=True)
        if self.unit_contrast:
            luma = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1)
            x = x * (0.25 / luma.flatten(1).std(1).clamp_min(1e-4)).view(-1, 1, 1, 1)
        return self.net(x + 0.45, layers)


def judge_scores(judge: FeatureExtractor, image: Tensor, content: Tensor, style: Tensor) -> tuple[float, float]:
    """(Gram distance to the style, feature distance to the content) under `judge`; relative errors."""
    with torch.no_grad():
        grams = {k: gram(v) for k, v in judge(style, judge.style_layers).items()}
        target = judge(content, judge.content_layers)
        feats = judge(image, tuple(dict.fromkeys(judge.style_layers + judge.content_layers)))
        return float(style_loss(feats, [grams])), float(content_loss(feats, target))


def log_spectrum(image: Tensor, bins: int = 8) -> Tensor:
    """Radially averaged log10 power spectrum of the luminance (Hann window), in octave-spaced bins."""
    y = (image[0].float() * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    h, w = y.shape
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None, :]
    power = torch.fft.fft2((y - y.mean()) * window).abs().pow(2) / (h * w)
    fy, fx = torch.fft.fftfreq(h)[:, None], torch.fft.fftfreq(w)[None, :]
    radius = (fy**2 + fx**2).sqrt()
    edges = torch.logspace(torch.log10(torch.tensor(1 / 32)), torch.log10(torch.tensor(0.5)), bins + 1)
    out = [power[(radius >= lo) & (radius < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return torch.stack(out).clamp_min(1e-12).log10()


def spectrum_distance(image: Tensor, style: Tensor) -> float:
    """Mean absolute difference of the log10 radial power spectra (0 = the style's texture scale and contrast)."""
    return float((log_spectrum(image) - log_spectrum(style)).abs().mean())


def centre_crop(image: Tensor, side: int) -> Tensor:
    """The central side x side square: a 512px texture photo shrunk whole to 128px would blur its grain away."""
    h, w = image.shape[-2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[..., top : top + side, left : left + side]


def histogram_transfer(content: Tensor, style: Tensor) -> Tensor:
    """Per-channel histogram matching of the content to the style (scikit-image): the colour-only baseline."""
    from skimage.exposure import match_histograms

    c, s = (x[0].permute(1, 2, 0).numpy() for x in (content, style))
    return torch.from_numpy(match_histograms(c, s, channel_axis=-1)).permute(2, 0, 1)[None].float().clamp(0, 1)


def stack_panels(panels: list[Tensor]) -> Tensor:
    """Rows of pictures one under the other (right-padded to one width), white gaps between."""
    width = max(p.shape[-1] for p in panels)
    rows = [F.pad(p, (0, width - p.shape[-1]), value=1.0) for p in panels]
    return torch.cat([torch.cat([p, torch.ones(1, 3, 3, width)], -2) for p in rows], -2)


def textures(smoke: bool = False) -> None:
    """Gatys transfers of china.jpg, and syntheses from noise, with each texture under each route."""
    res = Results("style_textures", smoke=smoke)
    size, steps = (48, 2) if smoke else (TEXTURE_SIZE, TEXTURE_STEPS)
    content = resize_longest(photo("china.jpg"), size)
    styles = {name: resize_longest(centre_crop(load_style(name), 2 * size), size) for name in TEXTURES}
    t0 = time.perf_counter()
    trained = trained_features(steps=5) if smoke else trained_features()
    trained_s = time.perf_counter() - t0
    old = RandomFeatures()
    wide = RandomFeatures(filters=256, zero_mean=True)
    # system -> (network, style weight, description)
    routes: dict[str, tuple[FeatureExtractor, float, str]] = {
        "genzoo-gatys-random64": (old, 20.0, "64 Gaussian 7x7 filters at scales 1,2,4,8 (the old bank)"),
        "genzoo-gatys-random64-zm": (
            RandomFeatures(filters=64, zero_mean=True),
            20.0,
            "64 zero-mean 7x7 filters at scales 1,2,4,8 + colour layer",
        ),
        "genzoo-gatys-random256-zm": (wide, 20.0, "256 zero-mean 7x7 filters at scales 1,2,4,8 + colour layer"),
        "genzoo-gatys-random256-zm-sw100": (wide, 100.0, "as random256-zm, style weight 100"),
        "genzoo-gatys-trained": (
            trained,
            20.0,
            f"genzoo's rotation-trained small VGG (trained or read from cache in {trained_s:.0f}s)",
        ),
    }
    synth_routes = ("genzoo-gatys-random64", "genzoo-gatys-random256-zm")
    judge = random_judge()
    judges = {
        "random_vgg": CentredJudge(judge),
        "random_vgg_unit_contrast": CentredJudge(judge, unit_contrast=True),
        "trained_unit_contrast": CentredJudge(trained, unit_contrast=True),
    }
    about = f"style: central {2 * size}px of the texture at {size}px"
    transfer_panels, synth_panels = [], []
    for style_name, style in styles.items():
        noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(0))
        for task, start in ((f"china+{style_name}", content), (f"synthesis-{style_name}", None)):
            base = f"china.jpg (held-out) at {size}px, {about}" if start is not None else f"from noise, {about}"
            if start is not None:
                outputs = {"content_unchanged": content, "histogram_transfer": histogram_transfer(content, style)}
                budgets = {"content_unchanged": f"no computation; {base}", "histogram_transfer": f"one pass; {base}"}
            else:
                outputs, budgets = {"noise_start": noise}, {"noise_start": f"the uniform noise start; {base}"}
            curves: dict[str, list[float]] = {}
            for system, (net, weight, what) in routes.items():
                if start is None and system not in synth_routes:
                    continue
                cfg = GatysConfig(steps=steps, optimizer="lbfgs", size=size, style_weight=weight,
                                  content_weight=1.0 if start is not None else 0.0,
                                  init="content" if start is not None else "noise")
                r = gatys_transfer(content, [style], config=cfg, features=net)
                outputs[system] = r.image
                curves[system] = [round(v, 5) for v in r.history]
                budgets[system] = (f"{steps} L-BFGS steps, {r.seconds:.1f}s, threads=1, content weight "
                                   f"{cfg.content_weight:g}, style weight {weight:g}; {what}; {base}")
                print(f"{task} {system}: {r.seconds:.1f}s", flush=True)
            for system, image in outputs.items():
                for judge_name, jnet in judges.items():
                    if jnet.net is routes.get(system, (None,))[0]:
                        continue  # a network does not judge its own optimisation
                    g, c = judge_scores(jnet, image, content, style)
                    res.add(task, system, f"gram_distance_{judge_name}", g, False, budgets[system])
                    if start is not None:
                        res.add(task, system, f"content_distance_{judge_name}", c, False, budgets[system])
                res.add(task, system, "spectrum_distance", spectrum_distance(image, style), False,
                        budgets[system], **({"loss_curve": curves[system]} if system in curves else {}))
            shown = [outputs[k] for k in outputs if k not in ("content_unchanged", "noise_start")]
            if start is not None:
                transfer_panels.append(panel_row([content, style, *shown]))
            else:
                synth_panels.append(panel_row([style, *shown]))
    save_image(stack_panels(transfer_panels), res.file("style_textures.png"))
    save_image(stack_panels(synth_panels), res.file("style_textures_synthesis.png"))
    print(f"wrote {res.name}.json; style_textures.png columns: content | style | histogram | {' | '.join(routes)}; "
          f"style_textures_synthesis.png columns: style | {' | '.join(synth_routes)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("speed", "textures", "all"), default="all")
    ap.add_argument("--smoke", action="store_true", help="textures part only, tiny: does it run?")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.part in ("textures", "all") or args.smoke:
        textures(args.smoke)
        if args.smoke:
            return
    if args.part in ("speed", "all"):
        speed_and_video()


if __name__ == "__main__":
    main()
