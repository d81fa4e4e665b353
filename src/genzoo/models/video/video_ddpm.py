"""Video diffusion: one mask-conditioned space-time U-Net for clips, frame prediction and video inpainting.

Clips are (N, C, T, H, W) in [0, 1]. The network (`genzoo.nn.video_unet.VideoUNet`) sees the noisy clip
together with two extra inputs: the known part of the clip (zero where unknown) and a mask (1 = generate).
Training draws the mask at random per clip — the whole clip (an unconditional generator, as label
dropout gives classifier-free guidance its unconditional branch), all frames after a random first k
(frame prediction, any k in 1..T-1), or a rectangle/brush-stroke region held fixed across all frames
(video inpainting) — so one model does all three in a single sampling pass, with the known pixels pasted
back exactly at the end. This is the mask-conditioning of Stable Diffusion's inpainting U-Net carried to
video, chosen over reconstruction guidance (Ho et al. 2022) because it needs no gradients through the
network at sampling time, which matters on a CPU. `inpaint(..., method="replace")` offers the
training-free alternative too: RePaint-style replacement of the known pixels, noised to the current
level, through the model's unconditional (all-hole) branch.

The denoising loop (RePaint replacement included), the objective (weighted by the mask) and the samplers are
the diffusion family's (`models/diffusion/pipeline.py`, `schedulers.py`), so any trained model samples with
DDPM, DDIM or DPM-Solver++ and any step count; this file is the network and its mask conditioning.
`causal=True` makes every frame depend only on earlier ones (see `video_unet.py`), the setting for streaming
frame prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.inpaint_ddpm import random_masks
from genzoo.models.diffusion.pipeline import DiffusionModel, check_count, keep_known
from genzoo.models.diffusion.schedulers import Scheduler
from genzoo.nn.video_unet import VideoUNet
from genzoo.protocols import Inpainter, Sampler, VideoPredictor
from genzoo.registry import register_model


@dataclass
class VideoDDPMConfig:
    video_shape: tuple[int, int, int, int] = (1, 8, 32, 32)  # (C, T, H, W)
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attn_resolutions: tuple[int, ...] = (8,)
    temporal_attn_resolutions: tuple[int, ...] = (16, 8)
    heads: int = 4
    dropout: float = 0.0
    causal: bool = False
    timesteps: int = 1000
    schedule: str = "linear"
    # x0-prediction learns fastest at CPU budgets (see `VideoDDPM`); "v" or "eps" for long runs
    prediction: str = "x0"
    sampler: str = "ddim"
    sample_steps: int = 50
    eta: float = 0.0
    clip_sample: bool = True
    # shares of training masks: whole clip, future frames after a random k; the rest are spatial holes
    p_uncond: float = 0.3
    p_predict: float = 0.4
    # frames given in a prediction mask; None draws k uniformly from 1..T-1
    predict_context: int | None = None


def training_masks(n: int, shape: tuple[int, int, int, int], p_uncond: float, p_predict: float,
                   generator: torch.Generator | None = None, context: int | None = None) -> Tensor:
    """(n, 1, T, H, W) masks, 1 = generate: the whole clip, frames k..T-1 (k = `context`, or random in
    1..T-1 when None), or a rectangle/stroke region (from `inpaint_ddpm.random_masks`) fixed across frames."""
    _, frames, h, w = shape
    g = dict(generator=generator)
    u = torch.rand(n, **g).view(n, 1, 1, 1, 1)
    k = torch.randint(1, max(frames, 2), (n,), **g) if context is None else torch.full((n,), context)
    k = k.view(n, 1, 1, 1, 1)
    future = (torch.arange(frames).view(1, 1, frames, 1, 1) >= k).float().expand(n, 1, frames, h, w)
    region = random_masks(n, h, w, p_rectangle=0.5, p_full=0.0, generator=generator).unsqueeze(2)
    region = region.expand(n, 1, frames, h, w)
    mask = torch.where(u < p_uncond + p_predict, future, region)
    return torch.where(u < p_uncond, torch.ones_like(mask), mask)


@register_model("video_ddpm", "video diffusion, factorised space-time U-Net: clips, frame prediction, video inpainting")
class VideoDDPM(DiffusionModel, Sampler, VideoPredictor, Inpainter):
    """`sample(n)` clips, `predict(first_frames)` the rest of a clip, `inpaint(clips, mask)` a region.

    The default prediction target is x0: in a 200-step pilot (16x16 moving digits, 4 frames, 2 given)
    frame-prediction MSE was 0.025 for x0, 0.031 for v and 0.26 for eps (copy-last-frame: 0.032), and eps
    samples were still mostly noise.
    """

    quick = Recipe("moving_digits", {"base_channels": 8, "channel_mults": [1, 2], "attn_resolutions": [8],
                                     "temporal_attn_resolutions": [8], "sample_steps": 3, "timesteps": 100},
                   {"n": 16, "frames": 4, "size": 16, "digit": 10})

    Config = VideoDDPMConfig
    default_lr = 1e-3  # as `ddpm`: small U-Nets on short budgets need a larger step than the paper's
    # EMA off by default: at the few hundred steps a CPU allows, an EMA of 0.995 (no warm-up) still holds
    # much of the initial network; in a 200-step pilot it quadrupled the loss (0.30 vs 0.065). Pass
    # ema=0.999 to `fit` for runs of many thousand steps.
    default_ema = None

    def __init__(self, config: VideoDDPMConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if not (0 <= config.p_uncond and 0 <= config.p_predict and config.p_uncond + config.p_predict <= 1):
            raise GenzooError("p_uncond and p_predict must be non-negative and sum to at most 1")
        if len(config.video_shape) != 4 or min(config.video_shape) < 1:
            raise GenzooError(f"video_shape must be (C, T, H, W), got {config.video_shape}")
        c, frames, h, w = config.video_shape
        if config.predict_context is not None and not 1 <= config.predict_context < frames:
            raise GenzooError(f"predict_context must be in 1..{frames - 1} for {frames}-frame clips, "
                              f"got {config.predict_context}")
        self.net = VideoUNet(
            2 * c + 1, c, max(h, w), frames, config.base_channels, tuple(config.channel_mults),
            config.num_res_blocks, tuple(config.attn_resolutions), tuple(config.temporal_attn_resolutions),
            config.heads, config.causal, config.dropout,
        )

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "video" or info.shape is None or len(info.shape) != 4:
            raise GenzooError(f"model {cls.model_name!r} needs video data (clips); {info.name!r} is {info.kind} data")
        shape = tuple(info.shape)
        side = min(shape[2:])
        mults = (1, 2, 2) if side >= 16 else (1, 2)
        return {"video_shape": shape, "channel_mults": mults, "attn_resolutions": (side // 4,),
                "temporal_attn_resolutions": (side // 2, side // 4)}

    @property
    def frames(self) -> int:
        return self.config.video_shape[1]

    # -- pieces --------------------------------------------------------------------------------------
    @staticmethod
    def condition(x0: Tensor, mask: Tensor) -> Tensor:
        """The network's extra channels: the clip in [-1, 1] with the unknown part zeroed, then the mask."""
        return torch.cat([x0 * (1 - mask), mask], dim=1)

    def denoiser(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """The space-time U-Net's output for noisy clips x at timesteps t; cond is `condition(...)`."""
        return self.net(torch.cat([x, cond], dim=1), t)

    def check_clips(self, clips: Tensor, what: str = "clip", frames: int | None = None) -> Tensor:
        """(N, C, T, H, W) or one (C, T, H, W) clip matching the model (T = `frames` if given), else one line."""
        c, t, h, w = self.config.video_shape
        clips = clips.unsqueeze(0) if clips.ndim == 4 else clips
        want = (c, frames if frames is not None else t, h, w)
        if clips.ndim != 5 or tuple(clips.shape[1:]) != want:
            raise GenzooError(f"{what} must be (N, {', '.join(map(str, want))}) as (N, C, T, H, W) for this model, "
                              f"got {tuple(clips.shape)}")
        return clips.float().clamp(0, 1).to(self.device)

    # -- protocol ------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Denoising MSE over the pixels to generate, at a uniformly drawn timestep, under a random mask."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.check_input(x, "training clip")
        x0 = self.to_space(x)
        mask = training_masks(len(x0), self.config.video_shape, self.config.p_uncond, self.config.p_predict,
                              context=self.config.predict_context)
        mask = mask.to(x0.device)
        return self.diffusion_loss(x0, self.condition(x0, mask), weight=mask)

    @torch.no_grad()
    def complete(self, clips: Tensor, mask: Tensor, steps: int | None = None,
                 scheduler: str | Scheduler | None = None, eta: float | None = None,
                 generator: torch.Generator | None = None, init: Tensor | None = None,
                 strength: float = 1.0) -> Tensor:
        """Generate where `mask` (N or 1, 1, T, H, W) is 1, keep `clips` elsewhere; one sampling pass.

        With `init` (clips of the same shape: a guess of the unknown part, e.g. a deterministic
        predictor's blurred frames) the pass is SDEdit (Meng et al. 2022): `init` is noised to the level
        of timestep `strength` * T and denoised from there under the same conditioning, so the guess's
        layout survives where little noise is added and the model redraws its detail. `strength` 1 is
        the plain pass from noise."""
        x0 = self.to_space(clips)
        mask = mask.to(self.device).float().expand(len(x0), 1, *x0.shape[2:])
        cond = self.condition(x0, mask)
        start = None if init is None else self.to_space(self.check_clips(init, "init", frames=x0.shape[2]))
        x = self.denoise(x0.shape, cond, scheduler=scheduler, steps=steps, eta=eta, generator=generator,
                         start=start, strength=strength)
        return keep_known(clips, mask, self.from_space(x))

    @torch.no_grad()
    def sample(self, n: int, frames: int | None = None, **kwargs: Any) -> Tensor:
        """n clips (N, C, T, H, W) in [0, 1]; `frames` may ask for fewer than the model's T."""
        check_count(n)
        frames = self._frame_count(frames)
        c, _, h, w = self.config.video_shape
        blank = torch.zeros(n, c, frames, h, w, device=self.device)
        return self.complete(blank, torch.ones(1, 1, frames, h, w), **kwargs)

    @torch.no_grad()
    def predict(self, first_frames: Tensor, predict: int | None = None, init: Tensor | None = None,
                samples: int = 1, **kwargs: Any) -> Tensor:
        """Continue clips: (N, C, k, H, W) known first frames -> (N, C, k + predict, H, W), the given
        frames unchanged. `predict` defaults to filling the model's T frames.

        When k + predict fits in T frames, one pass conditions on all k frames. Longer continuations roll
        out autoregressively: each pass conditions on the last T//2 frames and adds up to T - T//2 more.
        `init` (N, C, k + predict, H, W), e.g. another predictor's output, with `strength` < 1 starts
        each pass from that guess instead of noise (SDEdit; see `complete`).

        `samples` K > 1 returns the mean of K conditional draws (each a full roll-out, drawn one after
        another from the same `generator`): one sample is a plausible future, sharp but scored as if it
        were a guess of the true one, while the conditional mean is the MSE-optimal point forecast, and
        the mean of K draws approaches it. It trades sharpness for MSE and costs K passes.
        """
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise GenzooError(f"samples must be a positive integer, got {samples!r}")
        if samples > 1:
            draws = [self.predict(first_frames, predict, init, **kwargs) for _ in range(samples)]
            k = first_frames.shape[-3]  # given frames, for (N, C, k, H, W) and one (C, k, H, W) clip alike
            # the given frames exactly as given (a float mean of K equal values can round off them)
            return torch.cat([draws[0][:, :, :k], torch.stack(draws).mean(0)[:, :, k:]], dim=2)
        first = first_frames.unsqueeze(0) if first_frames.ndim == 4 else first_frames
        if first.ndim != 5:
            raise GenzooError(f"first frames must be (N, C, k, H, W), got shape {tuple(first_frames.shape)}")
        k, frames = first.shape[2], self.frames
        if predict is None:
            if k >= frames:
                raise GenzooError(f"{k} given frames fill the model's {frames}-frame clips; say how many to predict")
            predict = frames - k
        if not isinstance(predict, int) or predict < 1:
            raise GenzooError(f"the number of frames to predict must be a positive integer, got {predict!r}")
        out = self.check_clips(first, "first frames", frames=k)
        remaining = predict
        while remaining:
            context = out if out.shape[2] + remaining <= frames else out[:, :, -max(1, frames // 2):]
            new = min(remaining, frames - context.shape[2])
            guess = None if init is None else init[:, :, out.shape[2] - context.shape[2] : out.shape[2] + new]
            more = self._continue(context, new, init=guess, **kwargs)
            out = torch.cat([out, more[:, :, context.shape[2] :]], dim=2)
            remaining -= new
        return out

    def _continue(self, context: Tensor, new: int, **kwargs: Any) -> Tensor:
        """One pass: `context` (N, C, k, H, W) followed by `new` generated frames (k + new <= T)."""
        n, c, k, h, w = context.shape
        clips = torch.cat([context, torch.zeros(n, c, new, h, w, device=self.device)], dim=2)
        mask = (torch.arange(k + new, device=self.device) >= k).float().view(1, 1, k + new, 1, 1)
        return self.complete(clips, mask.expand(1, 1, k + new, h, w), **kwargs)

    @torch.no_grad()
    def inpaint(self, clips: Tensor, mask: Tensor, method: str = "conditioned", steps: int | None = None,
                scheduler: str | Scheduler | None = None, generator: torch.Generator | None = None,
                **kwargs: Any) -> Tensor:
        """Fill `mask` == 1 of (N, C, T, H, W) clips. The mask is (H, W) (the same region in every frame),
        (T, H, W), or (N or 1, 1, T, H, W). `method` "conditioned" is one mask-conditioned pass;
        "replace" is RePaint-style replacement through the unconditional branch (needs no trained masks)."""
        clips = self.check_clips(clips)
        mask = self._video_mask(mask, clips)
        if method == "conditioned":
            return self.complete(clips, mask, steps, scheduler, generator=generator, **kwargs)
        if method != "replace":
            raise GenzooError(f"unknown inpainting method {method!r}; choose conditioned or replace")
        x0 = self.to_space(clips)
        mask = mask.expand(len(x0), 1, *x0.shape[2:])
        cond = self.condition(x0, torch.ones_like(mask))  # the unconditional branch: nothing is known
        x = self.denoise(x0.shape, cond, scheduler=scheduler or "ddpm", steps=steps, eta=kwargs.get("eta"),
                         known=x0, mask=mask, generator=generator)
        return keep_known(clips, mask, self.from_space(x))

    # -- helpers -------------------------------------------------------------------------------------
    def _frame_count(self, frames: int | None, what: str | None = None) -> int:
        if frames is None:
            return self.frames
        if not isinstance(frames, int) or frames < 1:
            raise GenzooError(f"frame count must be a positive integer, got {frames!r}")
        if frames > self.frames:
            raise GenzooError(f"{what or f'{frames} frames'} is more than this model's {self.frames}-frame clips")
        return frames

    def _video_mask(self, mask: Tensor, clips: Tensor) -> Tensor:
        n, _, t, h, w = clips.shape
        mask = torch.as_tensor(mask, device=self.device).float()
        if mask.ndim == 2:
            mask = mask.view(1, 1, 1, h, w).expand(1, 1, t, h, w) if mask.shape == (h, w) else mask
        elif mask.ndim == 3:
            mask = mask.unsqueeze(0).unsqueeze(0)
        if mask.ndim != 5 or tuple(mask.shape[1:]) != (1, t, h, w) or len(mask) not in (1, n):
            raise GenzooError(f"mask must be ({h}, {w}), ({t}, {h}, {w}) or (N, 1, {t}, {h}, {w}), "
                              f"got {tuple(mask.shape)}")
        return (mask > 0.5).float()
