"""The diffusion pipeline: everything diffusion models share, written once, so a model writes only its network
and its conditioning.

A diffusion model subclasses `DiffusionModel` and implements `denoiser(x, t, cond)`: its network's raw
output (in the units of `config.prediction`: "eps", "x0" or "v") for noisy x at integer timesteps t (a (N,)
long tensor) under `cond`, whatever its conditioning makes (None, a tensor, or a tuple of tensors/None:
labels, an image to concatenate, text features). From that the pipeline gives:

- `make_scheduler`: any sampler of `schedulers.py` at any step count, so any trained model samples with any
  scheduler (diffusers' lesson);
- `model_output`: the network output at one sampling step, with classifier-free guidance (Ho & Salimans
  2022): u + w (c - u) for the unconditional output u (under `null`) and the conditional one c;
- `denoise`: the denoising loop, from noise to a sample in the model's diffusion space. Given `known` clean
  values and a `mask` (1 = generate) it does RePaint (Lugmayr et al. 2022): at every reverse step the known
  part is replaced by the original noised to the current level, so the model only invents the hole; every
  `jump` steps the sample is pushed back `jump` steps with fresh forward noise and denoised again
  (`resample` times), which lets the hole's content harmonise with what surrounds it;
- `diffusion_loss`: the training objective, the (optionally weighted) mean squared error of the network's
  prediction at a uniformly drawn timestep; `drop_condition` is the label/caption dropout that teaches the
  unconditional branch guidance needs;
- `loss` and `sample` for an unconditional model, from `to_space`/`from_space` (the space the diffusion runs
  in: [-1, 1] pixels by default, a latent space for latent diffusion) and `sample_shape`.

`repaint` and `check_image_mask` are the image-model front end of RePaint; `keep_known` pastes the known
pixels back so they are exactly the input's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import GenerativeModel
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.diffusion.schedulers import PREDICTIONS, NoiseSchedule, Scheduler, make_scheduler
from genzoo.nn.autocast import autocast_context
from genzoo.protocols import Denoiser

#: what `denoiser` is conditioned on: None, a tensor, or a tuple of tensors (or None) with one row per example
Condition = Any


class DiffusionModel(GenerativeModel, Denoiser):
    """Base of every diffusion model: a noise schedule from the config, the sampling loop and the objective.

    The config needs `timesteps`, `schedule`, `prediction`, `sampler`, `sample_steps`, `eta` and (unless
    `clip_range` is overridden) `clip_sample`. Subclasses implement `denoiser`; an unconditional model also
    sets `sample_shape` and, if it does not diffuse pixels, `to_space`/`from_space`.
    """

    #: False where sampling must stay in fp32 even on bf16 hardware (the network output goes unclipped
    #: into the sample); training precision is the engine's either way
    sample_autocast: ClassVar[bool] = True

    def __init__(self, config: Any, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.prediction not in PREDICTIONS:
            raise GenzooError(
                f"unknown prediction {config.prediction!r}; choose one of {', '.join(PREDICTIONS)}"
            )
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        make_scheduler(config.sampler, self.schedule)  # refuse an unknown default sampler at build time

    # -- what a model writes -----------------------------------------------------------------------------
    def denoiser(self, x: Tensor, t: Tensor, cond: Condition = None) -> Tensor:
        """The network's raw output (units of `config.prediction`) for noisy x at timesteps t under cond."""
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample in the diffusion space, e.g. (C, H, W)."""
        raise NotImplementedError

    def to_space(self, data: Tensor) -> Tensor:
        """Data (images in [0, 1]) -> the space the diffusion runs in: [-1, 1]."""
        return data.float() * 2 - 1

    def from_space(self, x: Tensor) -> Tensor:
        """A sample in the diffusion space -> data: images in [0, 1]."""
        return ((x + 1) / 2).clamp(0, 1)

    def clip_range(self) -> float | None:
        """The bound predicted x0 is clipped to while sampling; None for unbounded (latent) spaces."""
        return 1.0 if self.config.clip_sample else None

    # -- sampling ----------------------------------------------------------------------------------------
    def make_scheduler(
        self, scheduler: str | Scheduler | None = None, steps: int | None = None, eta: float | None = None
    ) -> Scheduler:
        """A sampler for this model (its prediction type and clipping) with `steps` timesteps set."""
        sched = make_scheduler(
            scheduler or self.config.sampler,
            self.schedule,
            self.config.prediction,
            self.clip_range(),
            self.config.eta if eta is None else eta,
        )
        sched.set_timesteps(self.config.sample_steps if steps is None else steps)
        return sched

    @torch.no_grad()
    def model_output(
        self, x: Tensor, t: int, cond: Condition = None, null: Condition = None, guidance_scale: float = 1.0
    ) -> Tensor:
        """The network output at integer timestep t, with classifier-free guidance where `null` is given.

        guidance_scale w mixes the unconditional output u (under `null`) and the conditional one c as
        u + w (c - u): w=0 is the unconditional model, w=1 the plain conditional one, w>1 trades diversity
        for fidelity to the condition. Only the branch needed runs when w is 0 or 1.
        """
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.long)
        with autocast_context(x.device) if self.sample_autocast else contextlib.nullcontext():
            if null is None or guidance_scale == 1.0:
                return self.denoiser(x, tt, cond).float()
            if guidance_scale == 0.0:
                return self.denoiser(x, tt, null).float()
            both = self.denoiser(torch.cat([x, x]), torch.cat([tt, tt]), _concat(null, cond)).float()
        u, c = both.chunk(2)
        return u + guidance_scale * (c - u)

    @torch.no_grad()
    def denoise(
        self,
        shape: tuple[int, ...],
        cond: Condition = None,
        *,
        null: Condition = None,
        guidance_scale: float = 1.0,
        scheduler: str | Scheduler | None = None,
        steps: int | None = None,
        eta: float | None = None,
        known: Tensor | None = None,
        mask: Tensor | None = None,
        jump: int = 1,
        resample: int = 1,
        generator: torch.Generator | None = None,
        callback: Callable[[int, Tensor], Tensor] | None = None,
        start: Tensor | None = None,
        strength: float = 1.0,
    ) -> Tensor:
        """The denoising loop: noise of `shape` -> a sample in the diffusion space, by `scheduler`.

        With `start` (a clean guess in the diffusion space) and `strength` < 1 the loop is SDEdit (Meng et
        al. 2022): it begins at timestep `strength` * T from `start` noised to that level, so the guess's
        layout survives where little noise is added and the model redraws the detail.

        With `known` (clean values in the diffusion space) and `mask` (1 = generate, broadcast to `known`),
        the known part is replaced at every step by `known` noised to the step's level, and with
        `resample` > 1 every `jump`-th step jumps back `jump` steps, `resample - 1` times (RePaint; cost ~
        steps * resample evaluations). `callback(t, x)`, if given, may replace x after each step.
        """
        if jump < 1 or resample < 1:
            raise GenzooError(f"jump and resample must be at least 1, got {jump} and {resample}")
        if not 0 < strength <= 1:
            raise GenzooError(f"strength must be in (0, 1], got {strength}")
        sched = self.make_scheduler(scheduler, steps, eta)
        ts = sched.timesteps
        x = torch.randn(shape, generator=generator, device=self.device)
        if start is not None and strength < 1:
            ts = [t for t in ts if t < strength * self.config.timesteps] or ts[-1:]
            x = self.schedule.add_noise(start, x, torch.full((len(start),), ts[0], device=self.device))
        remaining = {i: resample - 1 for i in range(jump, len(ts), jump)} if resample > 1 else {}
        i = 0
        while i < len(ts):
            t = ts[i]
            if known is not None:
                noise = torch.randn(known.shape, generator=generator, device=known.device)
                noisy = self.schedule.add_noise(known, noise, torch.full((len(known),), t, device=known.device))
                x = (1 - mask) * noisy + mask * x
            x = sched.step(self.model_output(x, t, cond, null, guidance_scale), t, x, generator)
            if callback is not None:
                x = callback(t, x)
            i += 1
            if remaining.get(i, 0) > 0:
                remaining[i] -= 1
                x = self.schedule.renoise(x, ts[i], ts[i - jump], generator)
                i -= jump
                sched.reset()
        return x

    @torch.no_grad()
    def sample(
        self,
        n: int,
        scheduler: str | Scheduler | None = None,
        steps: int | None = None,
        eta: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """n unconditional samples in data space, by `scheduler` ("ddpm", "ddim", "dpm++") in `steps`."""
        check_count(n)
        x = self.denoise((n, *self.sample_shape), scheduler=scheduler, steps=steps, eta=eta, generator=generator)
        return self.from_space(x)

    # -- training ----------------------------------------------------------------------------------------
    def diffusion_loss(self, x0: Tensor, cond: Condition = None, weight: Tensor | None = None) -> dict[str, Tensor]:
        """Mean squared error of the network's prediction at a uniformly drawn timestep (x0 in the diffusion
        space). `weight` (broadcast to x0, e.g. a mask of the part to generate) makes it a weighted mean."""
        t = torch.randint(0, self.config.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.add_noise(x0, noise, t)
        target = self.schedule.target(self.config.prediction, x0, noise, t)
        out = self.denoiser(xt, t, cond).float()
        if weight is None:
            mse = F.mse_loss(out, target)
        else:
            err = (out - target) ** 2 * weight
            mse = err.sum() / (weight.sum() * (err.numel() // weight.numel())).clamp(min=1)
        return {"loss": mse, "mse": mse.detach()}

    def loss(self, batch: Any) -> dict[str, Tensor]:
        """The unconditional objective on a batch of data (a tensor, or a tuple whose first item is one)."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.diffusion_loss(self.to_space(x))


def drop_condition(cond: Tensor, null: Tensor | int, p: float, also: Tensor | None = None) -> Tensor:
    """Label/caption dropout: each row of `cond` becomes `null` with probability p (and where `also` is
    True), so the network also learns the unconditional output classifier-free guidance mixes in."""
    drop = torch.rand(len(cond), device=cond.device) < p
    if also is not None:
        drop = drop | also
    null = torch.as_tensor(null, device=cond.device)
    return torch.where(drop.view(-1, *[1] * (cond.ndim - 1)), null, cond)


def _concat(a: Condition, b: Condition) -> Condition:
    """Two conditions as one batch (a's rows first), field by field."""
    if isinstance(a, tuple):
        return tuple(_concat(u, v) for u, v in zip(a, b, strict=True))
    if a is None or b is None:
        if a is not b:
            raise GenzooError("the guided and unguided conditions must have the same fields")
        return None
    return torch.cat([a, b])


def check_count(n: Any) -> None:
    """Refuse a sample count that is not a positive integer, in one line."""
    if not isinstance(n, int) or n < 1:
        raise GenzooError(f"number of samples must be a positive integer, got {n!r}")


def keep_known(data: Tensor, mask: Tensor, generated: Tensor) -> Tensor:
    """`generated` where `mask` is 1, `data` exactly elsewhere."""
    return (1 - mask) * data + mask * generated


# -- RePaint for image models ---------------------------------------------------------------------------
def check_image_mask(model: Any, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Refuse images/masks that do not fit the diffusion model, in one line; masks broadcast over channels."""
    shape = tuple(model.config.image_shape)
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask.unsqueeze(0)
    if image.ndim != 4 or tuple(image.shape[1:]) != shape:
        raise GenzooError(f"image must be {shape} (C, H, W) for this model, got {tuple(image.shape[-3:])}")
    if mask.ndim != 4 or mask.shape[-2:] != image.shape[-2:] or mask.shape[1] not in (1, shape[0]):
        raise GenzooError(f"mask must be {shape[1]}x{shape[2]} like the image, got shape {tuple(mask.shape)}")
    if len(mask) not in (1, len(image)):
        raise GenzooError(f"need one mask or one per image ({len(image)}), got {len(mask)}")
    return image.float().clamp(0, 1), (mask.float() > 0.5).float()


@torch.no_grad()
def repaint(
    model: DiffusionModel,
    image: Tensor,
    mask: Tensor,
    steps: int = 50,
    jump: int = 5,
    resample: int = 5,
    scheduler: str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """RePaint: fill the pixels where `mask` is 1 in `image` ((N, C, H, W) or (C, H, W), in [0, 1]).

    `steps` reverse steps of the model, unconditionally (DDPM sampler unless `scheduler`
    says otherwise), with a jump back of `jump` steps repeated `resample - 1` times at every `jump`-th step
    (resample=1 is plain "replacement" inpainting). Cost ~ steps * resample evaluations.
    """
    image, mask = check_image_mask(model, image, mask)
    image, mask = image.to(model.device), mask.to(model.device)
    x = model.denoise(image.shape, scheduler=scheduler or "ddpm", steps=steps, known=model.to_space(image),
                      mask=mask, jump=jump, resample=resample, generator=generator)
    return keep_known(image, mask, model.from_space(x))
