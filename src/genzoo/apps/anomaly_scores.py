"""Anomaly scores, higher = more anomalous, each asking for the capability it needs.

Raw likelihood ranks *simple* inputs as typical whatever their class (a thin "1" beats any normal digit),
so besides it come scores that correct for input complexity:

- ``nll``: -log p(x) in nats (any `Likelihood`).
- ``ratio``: -log p(x) + log p_bg(x), the likelihood ratio of Ren et al. (2019) against a background
  model of the same kind trained on perturbed inputs: what both models explain (smoothness, background
  pixels, overall ink) cancels, what only the in-distribution model learnt remains.
- ``complexity``: -log2 p(x) - L(x), the input-complexity correction of Serra et al. (2020), with L(x) the
  code length in bits of a lossless compressor (PNG or zlib of the 8-bit image): a generic compressor
  already compresses simple images well, so only the model's advantage over it counts.
- ``recon``: squared reconstruction error of decode(encode(x)) (any `LatentModel`).
- ``latent``: mean distance of encode(x) to its k nearest latents of the normal training data
  (any `LatentModel`): far from every normal code is anomalous even when decoding hides it.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.protocols import DOING, Capability, LatentModel, Likelihood, can

COMPRESSORS = ("png", "zlib")
PERTURB_RATE = 0.2
NEIGHBOURS = 5


@dataclass
class ScoreContext:
    """What some scores need besides the model: a background model, normal latents, a compressor."""

    background: Any = None
    reference_latents: Tensor | None = None
    compressor: str = "png"
    neighbours: int = NEIGHBOURS
    batch_size: int = 256
    log_prob_kwargs: dict[str, Any] | None = None


def batches(x: Tensor, batch_size: int) -> Iterator[Tensor]:
    yield from x.split(batch_size)


def nll(model: Any, x: Tensor, ctx: ScoreContext) -> Tensor:
    """-log p(x) per example, nats."""
    kw = ctx.log_prob_kwargs or {}
    return torch.cat([-model.log_prob(b, **kw).double().cpu() for b in batches(x, ctx.batch_size)])


def ratio(model: Any, x: Tensor, ctx: ScoreContext) -> Tensor:
    """-log p(x) + log p_background(x), nats (Ren et al. 2019)."""
    if ctx.background is None:
        raise GenzooError("the ratio score needs a background model (--background RUN, or fit with --model)")
    if not can(ctx.background, Likelihood):
        raise GenzooError("the background model cannot compute a likelihood")
    return nll(model, x, ctx) - nll(ctx.background, x, ctx)


def code_length_bits(x: Tensor, compressor: str = "png") -> Tensor:
    """Lossless code length, in bits, of each image of (N, C, H, W) in [0, 1] quantised to 8 bits."""
    if compressor not in COMPRESSORS:
        raise GenzooError(f"unknown compressor {compressor!r}; choose one of {', '.join(COMPRESSORS)}")
    if x.ndim != 4:
        raise GenzooError("the complexity score needs images (N, C, H, W): a lossless image compressor sizes them")
    from PIL import Image

    pixels = (x.detach().cpu().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for arr in pixels:
        if compressor == "zlib":
            out.append(len(zlib.compress(arr.tobytes(), 9)))
            continue
        buf = io.BytesIO()
        Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG", optimize=True)
        out.append(len(buf.getvalue()))
    return torch.tensor(out, dtype=torch.float64) * 8


def complexity(model: Any, x: Tensor, ctx: ScoreContext) -> Tensor:
    """-log2 p(x) - L(x), bits (Serra et al. 2020)."""
    return nll(model, x, ctx) / math.log(2) - code_length_bits(x, ctx.compressor)


def latents(model: Any, x: Tensor, batch_size: int = 256) -> Tensor:
    return torch.cat([model.encode_latent(b).float().cpu() for b in batches(x, batch_size)])


def recon(model: Any, x: Tensor, ctx: ScoreContext) -> Tensor:
    """Squared error of decode(encode(x)), summed over the example."""
    out = []
    for b in batches(x, ctx.batch_size):
        b = b.to(model.device).float()
        rec = model.decode_latent(model.encode_latent(b)).float().view_as(b)
        out.append((rec - b).pow(2).flatten(1).sum(1).double().cpu())
    return torch.cat(out)


def latent(model: Any, x: Tensor, ctx: ScoreContext) -> Tensor:
    """Mean Euclidean distance of encode(x) to its nearest latents of the normal training data."""
    if ctx.reference_latents is None:
        raise GenzooError("the latent score needs the normal data's latents (made by `genzoo anomaly fit`)")
    ref = ctx.reference_latents.float()
    k = min(ctx.neighbours, len(ref))
    z = latents(model, x, ctx.batch_size)
    return torch.cat([torch.cdist(b, ref).topk(k, largest=False).values.mean(1).double() for b in z.split(1024)])


@dataclass(frozen=True)
class ScoreKind:
    fn: Callable[[Any, Tensor, ScoreContext], Tensor]
    needs: type[Capability]
    images_only: bool = False


SCORES: dict[str, ScoreKind] = {
    "nll": ScoreKind(nll, Likelihood),
    "ratio": ScoreKind(ratio, Likelihood),
    "complexity": ScoreKind(complexity, Likelihood, images_only=True),
    "recon": ScoreKind(recon, LatentModel),
    "latent": ScoreKind(latent, LatentModel),
}


def available(model: Any, images: bool) -> list[str]:
    """The score kinds `model` can compute on this kind of data, by its declared capabilities."""
    return [k for k, s in SCORES.items() if can(model, s.needs) and (images or not s.images_only)]


def check(model: Any, kind: str, images: bool) -> None:
    """One clear line when `model` cannot compute score `kind`."""
    if kind not in SCORES:
        raise GenzooError(f"unknown anomaly score {kind!r}; choose one of {', '.join(SCORES)}")
    s = SCORES[kind]
    if not can(model, s.needs):
        raise GenzooError(
            f"model {getattr(model, 'model_name', '?')!r} cannot score by {kind}: it does not {DOING[s.needs]}"
        )
    if s.images_only and not images:
        raise GenzooError(f"the {kind} score needs image data (a lossless image compressor sizes the input)")


@torch.no_grad()
def score(kind: str, model: Any, x: Tensor, ctx: ScoreContext | None = None) -> Tensor:
    """Score per example of `x` by `kind`, higher = more anomalous; float64 on the CPU."""
    check(model, kind, x.ndim == 4)
    model.eval()
    if ctx is not None and ctx.background is not None:
        ctx.background.eval()
    s = SCORES[kind].fn(model, x, ctx or ScoreContext())
    if not torch.isfinite(s).all():
        raise GenzooError("some anomaly scores are not finite; the data may not match what the model was trained on")
    return s


def perturb(x: Tensor, rate: float = PERTURB_RATE, seed: int = 0) -> Tensor:
    """Ren et al.'s background training data: each value replaced, with probability `rate`, by noise.

    Images: a uniformly random 8-bit level; vectors (standardised tables): a standard-normal draw."""
    if not 0.0 < rate < 1.0:
        raise GenzooError(f"perturbation rate must be between 0 and 1, got {rate}")
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(x.shape, generator=g) < rate
    if x.ndim == 4:
        noise = torch.randint(0, 256, x.shape, generator=g).float() / 255.0
    else:
        noise = torch.randn(x.shape, generator=g)
    return torch.where(mask, noise, x.float())
