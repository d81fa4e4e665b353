"""SimVP: a deterministic frame predictor, conv encoder -> translator -> conv decoder (Gao et al. 2022).

The baseline `video_ddpm` is measured against: a trained model, not a heuristic. Each given frame is encoded
on its own by strided convolutions to a small feature map; the translator stacks the given frames' maps
along the channel axis and mixes them (and so time) with 2-D convolutions at that low resolution, where a
moving digit's displacement is a pixel or two; the decoder upsamples every predicted frame's map back to
pixels, with the first encoder layer of the last given frame as a skip connection (the digit's appearance
at full resolution). Training minimises the pixel MSE of the predicted frames, so under uncertainty the
prediction is the conditional mean: right on average, blurred where the future is uncertain, which is the
trade `video_ddpm`'s samples make the other way.

The translator's blocks follow SimVP v2's gated spatiotemporal attention in spirit (Tan et al. 2023): a
large-kernel depthwise convolution gathers the neighbourhood, a pointwise MLP mixes channels, both residual.
The network maps `context` given frames to the clip's remaining T - context frames in one pass; longer
continuations roll out, feeding the last `context` frames back.
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
from genzoo.protocols import VideoPredictor
from genzoo.registry import register_model


@dataclass
class SimVPConfig:
    video_shape: tuple[int, int, int, int] = (1, 8, 32, 32)  # (C, T, H, W)
    context: int = 4  # frames the network reads; it predicts the T - context after them
    spatial_channels: int = 32  # encoder/decoder width (SimVP's hid_S)
    temporal_channels: int = 128  # translator width (hid_T)
    downsamples: int = 2  # stride-2 encoder layers: 32x32 frames are translated at 8x8
    translator_blocks: int = 4
    kernel: int = 7  # depthwise kernel of a translator block


def _conv(cin: int, cout: int, stride: int = 1, transpose: bool = False) -> nn.Sequential:
    conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1) if transpose else nn.Conv2d(cin, cout, 3, stride, 1)
    return nn.Sequential(conv, nn.GroupNorm(math.gcd(8, cout), cout), nn.SiLU())


class TranslatorBlock(nn.Module):
    """Residual large-kernel depthwise convolution, then a residual pointwise MLP (x4 expansion)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.spatial = nn.Sequential(
            nn.GroupNorm(1, channels), nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        )
        self.mlp = nn.Sequential(
            nn.GroupNorm(1, channels),
            nn.Conv2d(channels, 4 * channels, 1),
            nn.GELU(),
            nn.Conv2d(4 * channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.spatial(x)
        return x + self.mlp(x)


class SimVPNet(nn.Module):
    """(N, C, k, H, W) given frames -> (N, C, p, H, W) predicted frames in [0, 1]."""

    def __init__(
        self,
        channels: int,
        context: int,
        future: int,
        hid_s: int,
        hid_t: int,
        downsamples: int,
        blocks: int,
        kernel: int,
    ) -> None:
        super().__init__()
        self.context, self.future = context, future
        self.stem = _conv(channels, hid_s)
        self.down = nn.Sequential(*[_conv(hid_s, hid_s, stride=2) for _ in range(downsamples)])
        self.translate_in = nn.Conv2d(context * hid_s, hid_t, 1)
        self.translator = nn.Sequential(*[TranslatorBlock(hid_t, kernel) for _ in range(blocks)])
        self.translate_out = nn.Conv2d(hid_t, future * hid_s, 1)
        self.up = nn.Sequential(*[_conv(hid_s, hid_s, transpose=True) for _ in range(downsamples)])
        self.head = nn.Sequential(_conv(2 * hid_s, hid_s), nn.Conv2d(hid_s, channels, 1))

    def forward(self, frames: Tensor) -> Tensor:
        n, c, k, h, w = frames.shape
        m = 2 ** len(self.down)
        x = F.pad(frames.transpose(1, 2).reshape(n * k, c, h, w), (0, (-w) % m, 0, (-h) % m))
        skip = self.stem(x)
        z = self.down(skip)
        zh, zw = z.shape[-2:]
        z = self.translator(self.translate_in(z.reshape(n, k * z.shape[1], zh, zw)))
        z = self.translate_out(z).reshape(n * self.future, -1, zh, zw)
        last = skip.reshape(n, k, *skip.shape[1:])[:, -1]  # the last given frame at full resolution
        last = last.repeat_interleave(self.future, dim=0)
        y = self.head(torch.cat([self.up(z), last], dim=1))[..., :h, :w]
        return torch.sigmoid(y).reshape(n, self.future, c, h, w).transpose(1, 2)


@register_model("simvp", "SimVP deterministic frame predictor: conv encoder, translator, decoder (MSE-trained)")
class SimVP(GenerativeModel, VideoPredictor):
    """`predict(first_frames)`: the rest of each clip, one deterministic pass (no sampling)."""

    quick = Recipe(
        "moving_digits",
        {"spatial_channels": 8, "temporal_channels": 16, "translator_blocks": 1},
        {"n": 16, "frames": 4, "size": 16, "digit": 10},
    )

    Config = SimVPConfig

    def __init__(self, config: SimVPConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if len(config.video_shape) != 4 or min(config.video_shape) < 1:
            raise GenzooError(f"video_shape must be (C, T, H, W), got {config.video_shape}")
        c, frames, _, _ = config.video_shape
        if not 1 <= config.context < frames:
            raise GenzooError(f"context must be in 1..{frames - 1} for {frames}-frame clips, got {config.context}")
        self.net = SimVPNet(
            c,
            config.context,
            frames - config.context,
            config.spatial_channels,
            config.temporal_channels,
            config.downsamples,
            config.translator_blocks,
            config.kernel,
        )

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "video" or info.shape is None or len(info.shape) != 4:
            raise GenzooError(f"model {cls.model_name!r} needs video data (clips); {info.name!r} is {info.kind} data")
        shape = tuple(info.shape)
        return {"video_shape": shape, "context": max(1, shape[1] // 2), "downsamples": 2 if min(shape[2:]) >= 16 else 1}

    @property
    def future(self) -> int:
        return self.config.video_shape[1] - self.config.context

    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Pixel MSE of the frames after the first `context`, predicted from those."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.check_input(x, "training clip")
        k = self.config.context
        mse = F.mse_loss(self.net(x[:, :, :k].float()), x[:, :, k:].float())
        return {"loss": mse, "mse": mse.detach()}

    @torch.no_grad()
    def predict(self, first_frames: Tensor, predict: int | None = None, **options: Any) -> Tensor:
        """(N, C, k, H, W) given frames (k >= context) -> (N, C, k + predict, H, W), the given frames unchanged.

        `predict` defaults to the clip's T - k. Sampling options (`steps`, `generator`, ...) are accepted for
        the `VideoPredictor` interface and ignored: the prediction is deterministic."""
        c, frames, h, w = self.config.video_shape
        first = first_frames.unsqueeze(0) if first_frames.ndim == 4 else first_frames
        k = first.shape[2] if first.ndim == 5 else 0
        if first.ndim != 5 or (first.shape[1], first.shape[3], first.shape[4]) != (c, h, w):
            raise GenzooError(
                f"first frames must be (N, {c}, k, {h}, {w}) as (N, C, T, H, W), got shape {tuple(first_frames.shape)}"
            )
        if k < self.config.context:
            raise GenzooError(f"this model continues from at least {self.config.context} given frames, got {k}")
        if predict is None:
            if k >= frames:
                raise GenzooError(f"{k} given frames fill the model's {frames}-frame clips; say how many to predict")
            predict = frames - k
        if not isinstance(predict, int) or predict < 1:
            raise GenzooError(f"the number of frames to predict must be a positive integer, got {predict!r}")
        out = first.float().clamp(0, 1).to(self.device)
        while out.shape[2] < k + predict:
            out = torch.cat([out, self.net(out[:, :, -self.config.context :])], dim=2)
        return out[:, :, : k + predict]
