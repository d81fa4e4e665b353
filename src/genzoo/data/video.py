"""Video data: moving mnist5k digits (generated offline, deterministic) and any folder of GIF/MP4 clips.

Clips are tensors laid out (C, T, H, W) in [0, 1] — channels, frames, height, width, the layout of
`torch.nn.Conv3d` — so a batch is (N, C, T, H, W). Items are `(clip, label)` like image datasets, with the
digit's class as label for single-digit clips and -1 otherwise.

Moving digits (after Srivastava et al. 2015's Moving MNIST, made smaller so CPU budgets can learn it):
each mnist5k digit is shrunk to `digit` pixels and bounces off the walls of a `size` x `size` canvas at a
constant speed. Train clips use mnist5k's training digits, test clips its held-out test digits, and the
trajectories come from a fixed seed per split, so every call returns the same clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

CLIP_SUFFIXES = (".gif", ".mp4", ".avi", ".mov", ".webm", ".mkv")


class VideoDataset(Dataset):
    """Clips as one float tensor (N, C, T, H, W) in [0, 1] with integer labels (-1 where unlabelled).

    `positions` (N, T, n_digits, 2), where known, holds each digit's top-left corner per frame.
    """

    def __init__(self, videos: Tensor, labels: Tensor | None, info: DataInfo,
                 positions: Tensor | None = None) -> None:
        if videos.ndim != 5:
            raise GenzooError(f"videos must be (N, C, T, H, W), got shape {tuple(videos.shape)}")
        self.videos = videos.float().contiguous()
        self.labels = labels.long() if labels is not None else torch.full((len(videos),), -1, dtype=torch.long)
        self.info = info
        self.positions = positions

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.videos[i], self.labels[i]

    def frames(self) -> tuple[Tensor, Tensor]:
        """Every frame as an image batch (N*T, C, H, W), with each frame's clip label."""
        n, c, t, h, w = self.videos.shape
        return self.videos.transpose(1, 2).reshape(n * t, c, h, w), self.labels.repeat_interleave(t)


def bounce_trajectories(n: int, frames: int, span: int, rng: np.random.Generator,
                        speed: tuple[float, float] = (1.0, 2.5)) -> np.ndarray:
    """(n, frames, 2) positions in [0, span] moving at constant speed and reflecting off both walls."""
    pos = rng.uniform(0, span, (n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    vel = rng.uniform(*speed, n)[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
    out = np.empty((n, frames, 2))
    for t in range(frames):
        out[:, t] = pos
        pos = pos + vel
        low, high = pos < 0, pos > span
        pos = np.where(low, -pos, np.where(high, 2 * span - pos, pos))
        vel = np.where(low | high, -vel, vel)
    return out


def render(digits: Tensor, positions: np.ndarray, size: int) -> Tensor:
    """Paste (n, k, d, d) digit images at rounded (n, T, k, 2) positions: (n, 1, T, size, size), max-blended."""
    n, k, d, _ = digits.shape
    frames = positions.shape[1]
    out = torch.zeros(n, frames, size, size)
    corners = np.rint(positions).astype(int)
    for i in range(n):
        for t in range(frames):
            for j in range(k):
                r, c = corners[i, t, j]
                patch = out[i, t, r : r + d, c : c + d]
                torch.maximum(patch, digits[i, j], out=patch)
    return out.unsqueeze(1)


@register_dataset("moving_digits", "mnist5k digits bouncing on a 32x32 canvas, 8-frame clips (offline)")
def moving_digits(split: str = "train", n: int | None = None, frames: int = 8, size: int = 32,
                  digit: int = 16, num_digits: int = 1, seed: int | None = None, **_: Any) -> VideoDataset:
    """`n` clips (default 2000 train / 500 test) of `frames` frames; labels are the digit class when
    `num_digits` is 1. Digits come from the matching mnist5k split, so test clips show unseen digits."""
    from genzoo.data.images import mnist5k

    if frames < 1 or num_digits < 1 or not 4 <= digit <= size:
        raise GenzooError(f"moving_digits needs frames >= 1, num_digits >= 1 and 4 <= digit <= size, "
                          f"got frames={frames}, num_digits={num_digits}, digit={digit}, size={size}")
    base = mnist5k("test" if split in ("test", "val") else split)
    n = n or (500 if split in ("test", "val") else 2000)
    rng = np.random.default_rng(seed if seed is not None else (1 if split in ("test", "val") else 0))
    pick = torch.from_numpy(rng.integers(0, len(base), (n, num_digits)))
    small = F.interpolate(base.images, size=(digit, digit), mode="area")
    digits = small[pick.reshape(-1), 0].reshape(n, num_digits, digit, digit)
    positions = bounce_trajectories(n * num_digits, frames, size - digit, rng)
    positions = positions.reshape(n, num_digits, frames, 2).transpose(0, 2, 1, 3)
    videos = render(digits, positions, size)
    labels = base.labels[pick[:, 0]] if num_digits == 1 else None
    info = DataInfo("moving_digits", "video", (1, frames, size, size),
                    [str(i) for i in range(10)] if num_digits == 1 else None, (0.0, 1.0),
                    {"frames": frames, "digit": digit, "num_digits": num_digits})
    return VideoDataset(videos, labels, info, torch.from_numpy(positions).float())


# -- clips on disk --------------------------------------------------------------------------------------
def read_clip(path: str | Path, frames: int | None = None, size: int | tuple[int, int] | None = None,
              channels: int | None = None) -> Tensor:
    """A GIF/MP4 (any format imageio reads) as (C, T, H, W) floats in [0, 1].

    `frames` keeps the first that many frames (a shorter clip is refused); `size` resizes each frame
    (area interpolation); `channels` 1 makes grey (luma), 3 makes RGB, None keeps RGB unless all three
    channels are equal (then grey). One-line GenzooError when the file
    is missing or unreadable.
    """
    import imageio.v3 as iio

    p = Path(path)
    if not p.is_file():
        raise GenzooError(f"clip {p} does not exist")
    try:
        if p.suffix.lower() == ".gif":  # Pillow directly: imageio's plugin trips on some palette GIFs
            from PIL import Image, ImageSequence

            with Image.open(p) as im:
                arr = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])
        else:
            arr = np.asarray(iio.imread(p, index=None))
    except Exception as e:  # noqa: BLE001 - imageio's plugins raise many types for a bad file
        raise GenzooError(f"clip {p} is not a readable video ({type(e).__name__})") from None
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        arr = arr[None]  # a single still image
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[0] < 1:
        raise GenzooError(f"clip {p} has an unexpected shape {arr.shape} (want frames x height x width)")
    video = torch.from_numpy(arr[..., :3].astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0))
    video = video.permute(3, 0, 1, 2).clamp(0, 1)  # (C, T, H, W)
    if channels is None and len(video) == 3 and bool((video == video[:1]).all()):
        video = video[:1]  # GIFs of grey clips come back as RGB with equal channels
    if frames is not None:
        if video.shape[1] < frames:
            raise GenzooError(f"clip {p} has {video.shape[1]} frames, fewer than the {frames} needed")
        video = video[:, :frames]
    if channels == 1 and video.shape[0] == 3:
        video = (video * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)).sum(0, keepdim=True)
    elif channels == 3 and video.shape[0] == 1:
        video = video.expand(3, -1, -1, -1)
    elif channels not in (None, 1, 3):
        raise GenzooError(f"channels must be 1 or 3, got {channels}")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(video.shape[-2:]) != hw:
            video = F.interpolate(video.transpose(0, 1), size=hw, mode="area").transpose(0, 1)
    return video.contiguous()


def write_clip(video: Tensor, path: str | Path, fps: float = 6.0, scale: int = 1) -> Path:
    """Write (C, T, H, W) or a batch (N, C, T, H, W) side by side as a looping GIF or an MP4 (by suffix)."""
    import imageio.v3 as iio

    p = Path(path)
    if video.ndim == 4:
        video = video.unsqueeze(0)
    if video.ndim != 5 or video.shape[1] not in (1, 3):
        raise GenzooError(f"a clip must be (C, T, H, W) or (N, C, T, H, W) with 1 or 3 channels, "
                          f"got {tuple(video.shape)}")
    v = video.detach().float().cpu().clamp(0, 1)
    v = F.pad(v, (1, 1, 1, 1), value=0.5) if len(v) > 1 else v  # grey border between clips
    strip = torch.cat(list(v), dim=-1)  # (C, T, H, N*W)
    if scale > 1:
        strip = strip.repeat_interleave(scale, -1).repeat_interleave(scale, -2)
    arr = (strip.permute(1, 2, 3, 0).numpy() * 255 + 0.5).astype(np.uint8)  # (T, H, W, C)
    if arr.shape[-1] == 1:
        arr = arr[..., 0] if p.suffix.lower() == ".gif" else np.repeat(arr, 3, -1)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".gif":
        # Pillow merges a frame identical to the one before it (adding up durations), which would change
        # the frame count; one grey level in the top-left pixel keeps every frame.
        for t in range(1, len(arr)):
            if np.array_equal(arr[t], arr[t - 1]):
                arr[t, 0, 0] = arr[t, 0, 0] + 1 if arr[t, 0, 0].max() < 255 else arr[t, 0, 0] - 1
        iio.imwrite(p, arr, duration=1000 / fps, loop=0)
    elif p.suffix.lower() in (".mp4", ".avi", ".mov", ".webm", ".mkv"):
        pad_h, pad_w = (-arr.shape[1]) % 16, (-arr.shape[2]) % 16  # codecs want macroblock-sized frames
        arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        iio.imwrite(p, arr, fps=fps)
    else:
        raise GenzooError(f"cannot write a clip as {p.suffix or 'a file without suffix'!r}; use .gif or .mp4")
    return p


@register_dataset("clips", "a folder of GIF/MP4 clips (path=...), cut to `frames` frames of `size` pixels")
def clips(split: str = "train", path: str | None = None, frames: int = 8, size: int = 32, channels: int = 1,
          test_share: float = 0.1, **_: Any) -> VideoDataset:
    """Every clip in `path` (sorted by name; the last `test_share` form the test split), as VideoDataset.

    Unreadable files and clips shorter than `frames` stop the load with a one-line error naming the file.
    """
    if path is None:
        raise GenzooError("the clips dataset needs path=<folder of .gif/.mp4 files>")
    root = Path(path)
    if not root.is_dir():
        raise GenzooError(f"clip folder {root} does not exist")
    files = sorted(f for f in root.iterdir() if f.suffix.lower() in CLIP_SUFFIXES)
    if not files:
        raise GenzooError(f"clip folder {root} has no {'/'.join(CLIP_SUFFIXES)} files")
    n_test = int(round(test_share * len(files))) if len(files) > 1 else 0
    chosen = {"train": files[: len(files) - n_test], "test": files[len(files) - n_test :],
              "val": files[len(files) - n_test :], "all": files}[split]
    if not chosen:
        raise GenzooError(f"clip folder {root} has too few clips for a {split} split ({len(files)} in all)")
    videos = torch.stack([read_clip(f, frames, size, channels) for f in chosen])
    info = DataInfo(f"clips:{root.name}", "video", tuple(videos.shape[1:]), None, (0.0, 1.0), {"frames": frames})
    return VideoDataset(videos, None, info)
