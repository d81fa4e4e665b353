"""Full-reference image quality for restoration tasks (super-resolution, inpainting): PSNR and SSIM.

Both take images in [0, 1] as (N, C, H, W) and optionally a mask (1 where the score should look), so
inpainting can be scored on the filled-in region only; a score over unchanged pixels would flatter everyone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    """Mean over images of 10 log10(1 / MSE), MSE taken over the masked pixels where a mask is given."""
    err = (pred.float() - target.float()).pow(2)
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.float().expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    return float((10 * torch.log10(1.0 / mse.clamp(min=1e-10))).mean())


def ssim(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    """Mean SSIM (scikit-image, Gaussian window) over images; with a mask, the SSIM map averaged inside it."""
    from skimage.metrics import structural_similarity

    p, t = pred.float().cpu().numpy(), target.float().cpu().numpy()
    m = None if mask is None else mask.float().expand_as(pred).cpu().numpy() > 0.5
    scores = []
    for i in range(len(p)):
        small = min(p.shape[-2:]) < 11  # the Gaussian window needs 11 pixels; fall back to a 7-pixel box
        _, smap = structural_similarity(
            t[i],
            p[i],
            channel_axis=0,
            data_range=1.0,
            full=True,
            gaussian_weights=not small,
            win_size=None if not small else min(7, min(p.shape[-2:]) - (1 - min(p.shape[-2:]) % 2)),
        )
        scores.append(float(smap[m[i]].mean()) if m is not None and m[i].any() else float(smap.mean()))
    return float(np.mean(scores)) if scores else math.nan
