"""The diffusion pipeline: the sampling procedures every diffusion model shares.

RePaint (Lugmayr et al. 2022) inpaints with any unconditional diffusion model, without retraining: at every
reverse step the known pixels are replaced by the original image noised to the current level, so the model
only invents the hole; every `jump` steps the sample is pushed back `jump` steps with fresh forward noise and
denoised again (`resample` times), which lets the hole's content harmonise with what surrounds it. The known
pixels of the result are exactly the input's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError


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
    model: Any,
    image: Tensor,
    mask: Tensor,
    steps: int = 50,
    jump: int = 5,
    resample: int = 5,
    scheduler: str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """RePaint: fill the pixels where `mask` is 1 in `image` ((N, C, H, W) or (C, H, W), in [0, 1]).

    `steps` reverse steps of an unconditional diffusion model (DDPM sampler unless `scheduler` says
    otherwise), with a jump back of `jump` steps repeated `resample - 1` times at every `jump`-th step
    (resample=1 is plain "replacement" inpainting). Cost ~ steps * resample evaluations.
    """
    if jump < 1 or resample < 1:
        raise GenzooError(f"jump and resample must be at least 1, got {jump} and {resample}")
    image, mask = check_image_mask(model, image, mask)
    if getattr(model.config, "cond_channels", 0):
        raise GenzooError("RePaint needs an unconditional image model, not an image-conditioned one")
    scheduler = scheduler or "ddpm"
    device = model.device
    image, mask = image.to(device), mask.to(device)
    known = 1 - mask
    x0 = image * 2 - 1
    sched = model.make_scheduler(scheduler, steps)
    schedule, ts = model.schedule, sched.timesteps
    x = torch.randn(x0.shape, generator=generator, device=device)
    remaining = {i: resample - 1 for i in range(jump, len(ts), jump)}
    i = 0
    while i < len(ts):
        t = ts[i]
        noise = torch.randn(x0.shape, generator=generator, device=device)
        noisy_known = schedule.add_noise(x0, noise, torch.full((len(x0),), t, device=device))
        x = known * noisy_known + mask * x
        x = sched.step(model.model_output(x, t), t, x, generator)
        i += 1
        if remaining.get(i, 0) > 0:
            remaining[i] -= 1
            x = schedule.renoise(x, ts[i], ts[i - jump], generator)
            i -= jump
            sched.reset()
    out = ((x + 1) / 2).clamp(0, 1)
    return known * image + mask * out
