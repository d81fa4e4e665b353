"""Style transfer by optimisation (Gatys, Ecker & Bethge 2016): find pixels whose deep features match the
content image and whose feature Gram matrices match the style image(s).

Options follow the paper and its follow-ups: L-BFGS (the paper's choice; fewest evaluations) or Adam
(steady, cheap per step), content/style/total-variation weights, several style images blended by
weight, colour preservation by luminance-only transfer (Gatys et al. 2016b, "Preserving color in neural
artistic style transfer"), and output size control (longest side in pixels).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.models.style.features import FeatureExtractor, build_features
from genzoo.models.style.images import match_luminance, resize_longest, rgb_to_yiq, yiq_to_rgb
from genzoo.models.style.losses import content_loss, gram, style_loss, tv_loss

OPTIMIZERS = ("lbfgs", "adam")


@dataclass
class GatysConfig:
    """Weights are for relative losses (see losses.py), so they mean the same for every feature network."""

    content_weight: float = 1.0
    style_weight: float = 20.0
    tv_weight: float = 0.0
    steps: int = 100
    optimizer: str = "lbfgs"
    lr: float = 0.03  # Adam only; pixels live in [0, 1]
    size: int | None = 256  # longest side of the output; None keeps the content's size
    style_scale: float = 1.0  # style images are resized to size * style_scale (texture scale)
    init: str = "content"  # or "noise"
    preserve_color: bool = False
    content_layers: tuple[str, ...] = ()  # empty: the feature network's defaults
    style_layers: tuple[str, ...] = ()
    seed: int = 0


@dataclass
class StyleResult:
    image: Tensor  # (1, C, H, W) in [0, 1]
    content_loss: float
    style_loss: float
    tv_loss: float
    seconds: float
    history: list[float] = field(default_factory=list)  # total loss per step


def check_pair(content: Tensor, styles: Sequence[Tensor]) -> None:
    """Refuse inputs that cannot be combined, in one line each."""
    if content.ndim != 4 or content.shape[0] != 1:
        raise GenzooError(f"content must be one image (1, C, H, W), got shape {tuple(content.shape)}")
    if not styles:
        raise GenzooError("give at least one style image")
    for i, s in enumerate(styles):
        if s.ndim != 4 or s.shape[0] != 1:
            raise GenzooError(f"style image {i} must be (1, C, H, W), got shape {tuple(s.shape)}")
        if s.shape[1] != content.shape[1]:
            raise GenzooError(
                f"style image {i} has {s.shape[1]} channel(s) but the content has "
                f"{content.shape[1]}; convert both to RGB (or both to greyscale)"
            )
    if content.shape[1] not in (1, 3):
        raise GenzooError(f"images must have 1 or 3 channels, got {content.shape[1]}")


class StyleTargets:
    """What the loss compares against: content features and each style's Gram matrices (computed once)."""

    def __init__(
        self,
        features: FeatureExtractor,
        content: Tensor,
        styles: Sequence[Tensor],
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_weights: Sequence[float] | None = None,
    ) -> None:
        self.features = features
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        with torch.no_grad():
            self.content = {k: v.detach() for k, v in features(content, self.content_layers).items()}
            self.grams = [
                {k: gram(v).detach() for k, v in features(s, self.style_layers).items()} for s in styles
            ]
        if style_weights is not None and (
            len(style_weights) != len(styles) or min(style_weights) < 0 or sum(style_weights) <= 0
        ):
            raise GenzooError(
                f"style weights {list(style_weights)} must be {len(styles)} non-negative numbers "
                "with a positive sum"
            )
        self.style_weights = style_weights

    def losses(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(content, style, tv) per example for images `x`."""
        feats = self.features(x, self.layers)
        return (
            content_loss(feats, self.content),
            style_loss(feats, self.grams, self.style_weights),
            tv_loss(x),
        )


def gatys_transfer(
    content: Tensor,
    styles: Sequence[Tensor],
    style_weights: Sequence[float] | None = None,
    config: GatysConfig | None = None,
    features: FeatureExtractor | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> StyleResult:
    """Stylise `content` (1, C, H, W) with `styles` (each (1, C, h, w)), all in [0, 1]."""
    config = config or GatysConfig()
    if config.optimizer not in OPTIMIZERS:
        raise GenzooError(f"unknown optimizer {config.optimizer!r}; choose one of {OPTIMIZERS}")
    if config.init not in ("content", "noise"):
        raise GenzooError(f"init must be 'content' or 'noise', got {config.init!r}")
    if config.steps < 1:
        raise GenzooError(f"steps must be at least 1, got {config.steps}")
    styles = list(styles)
    check_pair(content, styles)
    features = features if features is not None else build_features("auto")
    content = resize_longest(content.float(), config.size)
    style_size = None if config.size is None else max(16, round(config.size * config.style_scale))
    styles = [resize_longest(s.float(), style_size) for s in styles]

    colour = None
    if config.preserve_color and content.shape[1] == 3:
        yiq = rgb_to_yiq(content)
        colour = yiq[:, 1:]
        content = yiq[:, :1]
        styles = [match_luminance(rgb_to_yiq(s)[:, :1], content) for s in styles]

    targets = StyleTargets(
        features,
        content,
        styles,
        config.content_layers or features.content_layers,
        config.style_layers or features.style_layers,
        style_weights,
    )
    g = torch.Generator().manual_seed(config.seed)
    start = content.clone() if config.init == "content" else torch.rand(content.shape, generator=g)
    x = start.requires_grad_(True)
    history: list[float] = []

    def objective() -> Tensor:
        c, s, t = targets.losses(x)
        return (config.content_weight * c + config.style_weight * s + config.tv_weight * t).sum()

    t0 = time.perf_counter()
    if config.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=config.lr)
        for step in range(config.steps):
            opt.zero_grad()
            loss = objective()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            history.append(float(loss.detach()))
            if callback:
                callback(step, history[-1])
    else:
        # L-BFGS in rounds of <= 20 iterations; pixels are clamped to [0, 1] between rounds (resetting the
        # curvature memory is cheap next to leaving the valid range for hundreds of steps).
        done = 0
        while done < config.steps:
            n = min(20, config.steps - done)
            opt = torch.optim.LBFGS(
                [x],
                lr=1.0,
                max_iter=n,
                history_size=20,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-9,
                tolerance_change=1e-12,
            )

            def closure(opt: torch.optim.LBFGS = opt) -> Tensor:
                opt.zero_grad()
                loss = objective()
                loss.backward()
                history.append(float(loss.detach()))
                return loss

            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)
            done += n
            if callback:
                callback(done, history[-1])
    seconds = time.perf_counter() - t0

    with torch.no_grad():
        c, s, t = targets.losses(x)
        image = x.detach().clamp(0, 1)
        if colour is not None:
            image = yiq_to_rgb(torch.cat([image, colour], dim=1)).clamp(0, 1)
    return StyleResult(image, float(c.sum()), float(s.sum()), float(t.sum()), seconds, history)
