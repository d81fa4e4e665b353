"""Image plumbing for style transfer: read, resize, and the YIQ split used for colour preservation."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.errors import GenzooError

#: RGB -> YIQ (NTSC). Y is luminance; I and Q carry the colour that colour preservation keeps.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def load_image(path: str | os.PathLike[str]) -> Tensor:
    """An image file as (1, C, H, W) in [0, 1]: C = 1 for greyscale files, else 3 (alpha dropped)."""
    from genzoo.data.files import read_image

    arr = read_image(path)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_style(name: str) -> Tensor:
    """A style image by name: a picture that ships with scikit-image (brick, gravel, grass, ...) or a file path."""
    import numpy as np
    import skimage.data

    if not Path(name).exists() and callable(getattr(skimage.data, name, None)):
        arr = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
        arr = arr / 255.0 if arr.max() > 1.0 else arr
        image = torch.from_numpy(arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, -1))[..., :3]
        return image.permute(2, 0, 1).unsqueeze(0).contiguous()
    if not Path(name).is_file():
        raise GenzooError(f"style {name!r} is neither an image file nor a picture of scikit-image (e.g. brick)")
    style = load_image(name)
    return style if style.shape[1] == 3 else style.expand(-1, 3, -1, -1).contiguous()


def save_image(image: Tensor, path: str | os.PathLike[str]) -> None:
    """One image without the border `viz.save_grid` adds: (1, C, H, W) or (C, H, W) in [0, 1]."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    img = image[0] if image.ndim == 4 else image
    arr = (img.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)


def resize_longest(image: Tensor, size: int | None) -> Tensor:
    """Scale (N, C, H, W) so its longer side is `size` pixels (aspect kept); None keeps it as it is."""
    if size is None:
        return image
    if size < 16:
        raise GenzooError(f"output size must be at least 16 pixels, got {size}")
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return image
    return F.interpolate(image, size=new, mode="bilinear", align_corners=False, antialias=scale < 1).clamp(
        0, 1
    )


def rgb_to_yiq(x: Tensor) -> Tensor:
    return torch.einsum("ij,njhw->nihw", _RGB2YIQ.to(x), x)


def yiq_to_rgb(x: Tensor) -> Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB2YIQ).to(x), x)


def match_luminance(style_y: Tensor, content_y: Tensor) -> Tensor:
    """Shift and scale the style's luminance to the content's mean and spread (Gatys et al. 2016b)."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - s_mean) / s_std * content_y.std() + content_y.mean()).clamp(0, 1)
