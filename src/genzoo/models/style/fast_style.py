"""Fast style transfer (Johnson, Alahi & Fei-Fei 2016): a feed-forward network trained for one style.

The transformer network follows Johnson et al. with the later fixes everyone adopted (pytorch/examples
`fast_neural_style`): instance normalisation (Ulyanov et al. 2016) and nearest-upsample + conv instead of
transposed convolutions (no checkerboard artefacts). It is fully convolutional; the decoder upsamples to
the encoder's recorded sizes, so any input size (odd ones too) comes back at its own size.

Training minimises the same relative content/style losses as `gatys` (so weights carry over) on photo
patches; `temporal_weight` adds a ReCoNet-style output-temporal loss on synthetic motion: the network's
output for a shifted/zoomed patch should equal the shifted/zoomed output, which makes videos flicker less.
The style image travels inside the saved model (a buffer), the feature network does not (it is rebuilt
from `features` only to train further).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.style.features import FeatureExtractor, build_features
from genzoo.models.style.images import load_style
from genzoo.models.style.losses import content_loss, gram, style_loss, tv_loss
from genzoo.protocols import Stylizer
from genzoo.registry import register_model


class ConvIN(nn.Sequential):
    """Reflection pad -> conv -> instance norm (-> ReLU)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(k // 2),
            nn.Conv2d(cin, cout, k, stride),
            nn.InstanceNorm2d(cout, affine=True),
        ]
        super().__init__(*layers, *([nn.ReLU()] if relu else []))


class Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvIN(ch, ch, 3), ConvIN(ch, ch, 3, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """9x9 conv, two stride-2 convs, residual blocks, two upsample-convs, 9x9 conv to RGB in [0, 1].

    With `skip` (our addition), the head predicts a change of the input's logits and starts at zero, so
    the untrained net is the identity and training only has to learn the style: far fewer steps to a
    usable net than Johnson's from-scratch output (which spends its first thousands of steps on content).
    """

    def __init__(
        self, channels: int = 32, res_blocks: int = 5, image_channels: int = 3, skip: bool = True
    ) -> None:
        super().__init__()
        self.skip = skip
        c = channels
        self.stem = ConvIN(image_channels, c, 9)
        self.down1 = ConvIN(c, 2 * c, 3, stride=2)
        self.down2 = ConvIN(2 * c, 4 * c, 3, stride=2)
        self.res = nn.Sequential(*[Residual(4 * c) for _ in range(res_blocks)])
        self.up1 = ConvIN(4 * c, 2 * c, 3)
        self.up2 = ConvIN(2 * c, c, 3)
        self.head = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(c, image_channels, 9))
        if skip:
            nn.init.zeros_(self.head[1].weight)
            nn.init.zeros_(self.head[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) < 8:
            raise GenzooError(
                f"image too small for the style network: {tuple(x.shape[-2:])}, need at least 8x8"
            )
        h0 = self.stem(x)
        h1 = self.down1(h0)
        h = self.res(self.down2(h1))
        h = self.up1(F.interpolate(h, size=h1.shape[-2:], mode="nearest"))
        h = self.up2(F.interpolate(h, size=h0.shape[-2:], mode="nearest"))
        if self.skip:
            return torch.sigmoid(torch.logit(x.clamp(0.0, 1.0), eps=1e-3) + self.head(h))
        return torch.sigmoid(self.head(h))


@dataclass
class FastStyleConfig:
    channels: int = 32
    res_blocks: int = 5
    skip: bool = True  # start as the identity (see TransformerNet)
    style_shape: tuple[int, int, int] = (3, 256, 256)  # the stored style image (C, H, W)
    style: str = "brick"  # style for a model built without one: a scikit-image picture name or an image file
    features: str = "auto"  # feature network for training losses: auto, vgg16, vgg19, random, trained
    weights: str = ""  # VGG weights file (training only); empty: the torch hub cache
    content_weight: float = 1.0
    style_weight: float = 20.0
    tv_weight: float = 0.0
    temporal_weight: float = 0.0  # output-temporal loss on synthetic motion (0: off)
    content_layers: tuple[str, ...] = ()
    style_layers: tuple[str, ...] = ()


@register_model(
    "fast_style", "feed-forward style transfer net for one style (Johnson et al.); stylises any image in one pass"
)
class FastStyle(GenerativeModel, Stylizer):
    """A transformer network plus the style image it was trained for; `stylize` is one forward pass."""

    quick = Recipe("photos", {"channels": 8, "res_blocks": 1, "style_shape": [3, 32, 32], "features": "random"},
                   {"patch": 16, "n": 16})

    Config = FastStyleConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: FastStyleConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if len(config.style_shape) != 3 or config.style_shape[0] != 3:
            raise GenzooError(f"style_shape must be (3, H, W), got {tuple(config.style_shape)}")
        self.net = TransformerNet(config.channels, config.res_blocks, skip=config.skip)
        self.register_buffer("style_image", torch.zeros(1, *config.style_shape))
        self._cache: dict[str, Any] = {}  # feature network and style Grams; rebuilt on demand, never saved

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "image" or info.shape is None or info.shape[0] != 3:
            raise GenzooError(f"fast_style trains on RGB images; {info.name!r} has shape {info.shape}")
        return {}

    @classmethod
    def for_style(cls, style: Tensor, data_info: DataInfo | None = None, **overrides: Any) -> FastStyle:
        """A fresh model for `style` (1, 3, H, W); the style is stored at its own aspect, longest side 256."""
        from genzoo.config import build_config
        from genzoo.models.style.images import resize_longest

        if style.ndim != 4 or style.shape[1] != 3:
            raise GenzooError(f"the style image must be RGB (1, 3, H, W), got shape {tuple(style.shape)}")
        style = resize_longest(style.float(), int(overrides.pop("style_size", 256)))
        config = build_config(FastStyleConfig, {"style_shape": tuple(style.shape[1:]), **overrides})
        model = cls(config, data_info)
        if config.features == "auto":  # record the network the losses use, so a saved run trains on alike
            net = build_features("auto", config.weights or None)
            config.features = net.kind
            model._cache["features"] = net
        model.set_style(style)
        return model

    def set_style(self, style: Tensor) -> None:
        """Store the style image (resized to `style_shape`) and forget cached Grams."""
        _, h, w = self.config.style_shape
        style = F.interpolate(style.float(), size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
        self.style_image.copy_(style[:1].to(self.style_image))
        self._cache.pop("grams", None)

    # -- inference ---------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @torch.no_grad()
    def stylize(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> stylised images of the same size, in one pass."""
        if images.ndim == 3:
            images = images.unsqueeze(0)
        if images.ndim != 4 or images.shape[1] != 3:
            raise GenzooError(f"fast_style stylises RGB images (N, 3, H, W); got shape {tuple(images.shape)}")
        return self.net(images.to(self.device).float())

    def sample(self, n: int, content: Tensor | None = None, **condition: Any) -> Tensor:
        """Stylise `content` (this model transforms images; it does not draw them from noise)."""
        if content is None:
            raise GenzooError(
                "fast_style transforms images: call sample(n, content=images) or stylize(images)"
            )
        return self.stylize(content)[:n]

    def sample_grid(self, n: int = 64) -> Tensor | None:
        return None

    # -- training ---------------------------------------------------------------------------------------
    def feature_net(self) -> FeatureExtractor:
        if "features" not in self._cache:
            net = build_features(self.config.features, self.config.weights or None)
            self._cache["features"] = net.requires_grad_(False).eval()
        return self._cache["features"].to(self.style_image.device)

    def _layers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        f = self.feature_net()
        return self.config.content_layers or f.content_layers, self.config.style_layers or f.style_layers

    def _style_grams(self) -> dict[str, Tensor]:
        if "grams" not in self._cache:
            if not self.style_image.abs().sum() > 0:
                if not self.config.style:
                    raise GenzooError("fast_style has no style image: set style=NAME or use FastStyle.for_style")
                self.set_style(load_style(self.config.style).to(self.style_image.device))
            _, style_layers = self._layers()
            with torch.no_grad():
                feats = self.feature_net()(self.style_image, style_layers)
            self._cache["grams"] = {k: gram(v) for k, v in feats.items()}
        return self._cache["grams"]

    def loss(self, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        if x.ndim != 4 or x.shape[1] != 3:
            raise GenzooError(f"fast_style trains on RGB images (N, 3, H, W); got shape {tuple(x.shape)}")
        cfg = self.config
        content_layers, style_layers = self._layers()
        features = self.feature_net()
        grams = self._style_grams()
        with torch.no_grad():
            targets = features(x, content_layers)
        y = self.net(x)
        feats = features(y, tuple(dict.fromkeys(content_layers + style_layers)))
        c = content_loss(feats, targets).mean()
        s = style_loss(feats, [grams]).mean()
        t = tv_loss(y).mean()
        total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * t
        parts = {"content": c.detach(), "style": s.detach(), "tv": t.detach()}
        if cfg.temporal_weight > 0:
            temporal = self.temporal_loss(x, y)
            total = total + cfg.temporal_weight * temporal
            parts["temporal"] = temporal.detach()
        return {"loss": total, **parts}

    def temporal_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean squared gap between net(T(x)) and T(net(x)) for a random small pan/zoom/rotation T."""
        theta = random_motion(len(x), x.device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        moved_out = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        valid = (grid.abs() <= 1).all(-1, keepdim=True).permute(0, 3, 1, 2).float()
        # border pixels see zero padding in `moved`; leave a margin so only true correspondences count
        valid = -F.max_pool2d(-valid, 9, stride=1, padding=4)
        diff = (self.net(moved) - moved_out) ** 2 * valid
        return diff.sum() / (valid.sum() * y.shape[1]).clamp_min(1.0)


def random_motion(
    n: int,
    device: torch.device | str = "cpu",
    shift: float = 0.06,
    zoom: float = 0.06,
    angle_deg: float = 3.0,
) -> Tensor:
    """(n, 2, 3) affine matrices for grid_sample: small random pan, zoom and rotation (camera motion)."""
    s = 1 + (torch.rand(n, device=device) * 2 - 1) * zoom
    a = (torch.rand(n, device=device) * 2 - 1) * math.radians(angle_deg)
    t = (torch.rand(n, 2, device=device) * 2 - 1) * shift * 2
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    return torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
