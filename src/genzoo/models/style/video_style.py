"""Video style transfer: per-frame, or temporally consistent with optical flow (Ruder et al. 2016; ReCoNet).

Stylising each frame on its own flickers: tiny input changes flip textures. The consistent mode carries
the previous stylised frame forward: OpenCV Farneback flow from frame t to t-1 warps it into frame t,
a forward-backward consistency check marks occluded/disoccluded pixels (Ruder et al., eq. 7), and on the
remaining pixels the warped frame is blended with the new one. `warping_error` is the usual metric: the
mean squared gap between a stylised frame and its warped predecessor on non-occluded pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.errors import GenzooError

VIDEO_SUFFIXES = (".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm")


# -- frames in and out -------------------------------------------------------------------------------------
def read_video(path: str | os.PathLike[str], max_frames: int | None = None) -> tuple[Tensor, float]:
    """A GIF/MP4 as (T, 3, H, W) in [0, 1] and its frame rate; at least two frames are required."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"video file not found: {path}")
    frames: list[np.ndarray] = []
    try:
        for frame in iio.imiter(path):
            frames.append(_rgb(np.asarray(frame)))
            if max_frames and len(frames) >= max_frames:
                break
        meta = iio.immeta(path)
    except Exception as e:  # noqa: BLE001 - imageio raises many types for a bad file; the user sees one line
        raise GenzooError(
            f"cannot read video {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    if len(frames) < 2:
        raise GenzooError(
            f"{path} has {len(frames)} frame(s); a video needs at least 2 (use `genzoo stylize` "
            "for a single image)"
        )
    fps = float(meta.get("fps") or (1000.0 / meta["duration"] if meta.get("duration") else 10.0))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0, fps


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        frame = np.stack([frame] * 3, -1)
    return frame[..., :3].astype(np.float32)


def write_video(frames: Tensor, path: str | os.PathLike[str], fps: float = 10.0) -> Path:
    """(T, 3, H, W) in [0, 1] -> GIF (Pillow) or MP4 (ffmpeg via imageio-ffmpeg), chosen by suffix."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise GenzooError(f"cannot write video {path}: use one of {', '.join(VIDEO_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (frames.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, arr, duration=1000.0 / fps, loop=0)
    else:
        h, w = arr.shape[1:3]
        arr = arr[:, : h - h % 2, : w - w % 2]  # yuv420p needs even sizes
        iio.imwrite(path, arr, fps=fps, codec="libx264", plugin="pyav" if _has_pyav() else None)
    return path


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# -- flow, warping, occlusion --------------------------------------------------------------------------------
def farneback_flow(src: Tensor, dst: Tensor) -> Tensor:
    """Dense flow (2, H, W) in pixels such that src(p) ~ dst(p + flow(p)); frames (3, H, W) in [0, 1]."""
    import cv2

    def grey(x: Tensor) -> np.ndarray:
        g = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).clamp(0, 1)
        return (g.cpu().numpy() * 255).astype(np.uint8)

    flow = cv2.calcOpticalFlowFarneback(
        grey(src),
        grey(dst),
        None,
        pyr_scale=0.5,
        levels=4,
        winsize=15,
        iterations=3,
        poly_n=5,
        poly_sigma=1.2,
        flags=0,
    )
    return torch.from_numpy(flow).permute(2, 0, 1).float()


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Sample `image` (N, C, H, W) at p + flow(p); flow (N, 2, H, W) in pixels (x, y); zero flow: identity."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=image.dtype), torch.arange(w, dtype=image.dtype), indexing="ij"
    )
    x = xs.to(image.device) + flow[:, 0]
    y = ys.to(image.device) + flow[:, 1]
    grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def occlusion_mask(flow_back: Tensor, flow_fwd: Tensor) -> Tensor:
    """1 where frame t's pixel is visible in frame t-1 (forward-backward consistent, inside the frame).

    flow_back: (N, 2, H, W) from t to t-1; flow_fwd: from t-1 to t. Following a pixel back and then
    forward should return to where it started; where it does not, it was occluded (Ruder et al. 2016).
    """
    _, _, h, w = flow_back.shape
    fwd_at = warp(flow_fwd, flow_back)
    gap = ((flow_back + fwd_at) ** 2).sum(1)
    scale = (flow_back**2).sum(1) + (fwd_at**2).sum(1)
    ok = gap <= 0.01 * scale + 0.5
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    x, y = xs.to(flow_back) + flow_back[:, 0], ys.to(flow_back) + flow_back[:, 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return (ok & inside).float().unsqueeze(1)


def estimate_motion(frames: Tensor) -> tuple[Tensor, Tensor]:
    """For t = 1..T-1: backward flows (T-1, 2, H, W) from frame t to t-1, and their visibility masks."""
    flows, masks = [], []
    for t in range(1, len(frames)):
        back = farneback_flow(frames[t], frames[t - 1]).unsqueeze(0)
        fwd = farneback_flow(frames[t - 1], frames[t]).unsqueeze(0)
        flows.append(back[0])
        masks.append(occlusion_mask(back, fwd)[0])
    return torch.stack(flows), torch.stack(masks)


# -- stylising a sequence -----------------------------------------------------------------------------------
def stylize_video(
    frames: Tensor,
    stylize: Callable[[Tensor], Tensor],
    consistent: bool = True,
    blend: float = 0.7,
    motion: tuple[Tensor, Tensor] | None = None,
    batch: int = 8,
) -> Tensor:
    """Stylise (T, 3, H, W) frames with `stylize` (images -> images), optionally consistently.

    With `consistent`, frame t's output is `blend * warped previous output + (1 - blend) * new output`
    on pixels visible in both frames (new output alone where occluded). Because the previous output was
    itself blended, this is an exponential moving average along motion paths: flicker falls by roughly
    (1 - blend) / (1 + blend) while every pixel still comes from the style network.
    """
    if frames.ndim != 4 or len(frames) < 2:
        raise GenzooError(f"a video needs at least 2 frames (T, C, H, W); got shape {tuple(frames.shape)}")
    if not 0.0 <= blend < 1.0:
        raise GenzooError(f"blend must be in [0, 1), got {blend}")
    with torch.no_grad():
        raw = torch.cat([stylize(frames[i : i + batch]) for i in range(0, len(frames), batch)])
    if not consistent:
        return raw
    flows, masks = motion if motion is not None else estimate_motion(frames)
    out = [raw[0]]
    for t in range(1, len(frames)):
        prev = warp(out[-1].unsqueeze(0), flows[t - 1].unsqueeze(0))[0]
        m = masks[t - 1] * blend
        out.append(m * prev + (1 - m) * raw[t])
    return torch.stack(out)


def warping_error(outputs: Tensor, flows: Tensor, masks: Tensor) -> float:
    """Mean over t of the masked mean squared difference between output t and warped output t-1."""
    errors = []
    for t in range(1, len(outputs)):
        prev = warp(outputs[t - 1].unsqueeze(0), flows[t - 1].unsqueeze(0))[0]
        m = masks[t - 1]
        errors.append(float(((outputs[t] - prev) ** 2 * m).sum() / (m.sum() * outputs.shape[1]).clamp_min(1)))
    return float(np.mean(errors))


# -- an offline test video --------------------------------------------------------------------------------
def pan_zoom_video(
    image: Tensor, frames: int = 16, size: tuple[int, int] = (128, 128), zoom: float = 1.3, pan: float = 0.25
) -> tuple[Tensor, Tensor, Tensor]:
    """A camera panning and zooming across `image` (3, H, W): frames, exact backward flows and visibility.

    Frame t shows the window with top-left (x0_t, y0_t) and scale s_t (source pixels per frame pixel), so
    the frame pixel p sits at source x0_t + s_t p, which is frame t-1's pixel (x0_t + s_t p - x0_{t-1}) /
    s_{t-1}: the flow is known exactly, which makes the warping error an honest metric (no estimated flow).
    """
    fh, fw = size
    base = min(image.shape[1] / fh, image.shape[2] / fw) / zoom  # source pixels per frame pixel, widest view
    if base > 1.5:  # shrink the source once (antialiased) so bilinear sampling does not alias
        image = F.interpolate(
            image.unsqueeze(0), scale_factor=1.5 / base, mode="bilinear", antialias=True, align_corners=False
        )[0]
    _, h_img, w_img = image.shape
    base = min(h_img / fh, w_img / fw) / zoom
    out, flows, masks = [], [], []
    prev = None
    ys, xs = torch.meshgrid(
        torch.arange(fh, dtype=torch.float32), torch.arange(fw, dtype=torch.float32), indexing="ij"
    )
    for t in range(frames):
        a = t / max(frames - 1, 1)
        s = base * (1.0 - (1 - 1 / zoom) * a)  # zoom in over time
        cx = w_img * (0.5 - pan / 2 + pan * a)
        cy = h_img * (0.5 + pan / 4 * np.sin(np.pi * a))
        x0 = float(np.clip(cx - s * fw / 2, 0, w_img - s * fw))
        y0 = float(np.clip(cy - s * fh / 2, 0, h_img - s * fh))
        sx, sy = x0 + s * (xs + 0.5) - 0.5, y0 + s * (ys + 0.5) - 0.5
        grid = torch.stack([2 * sx / (w_img - 1) - 1, 2 * sy / (h_img - 1) - 1], -1).unsqueeze(0)
        out.append(
            F.grid_sample(
                image.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=True
            )[0]
        )
        if prev is not None:
            px0, py0, ps = prev
            fx = (x0 + s * (xs + 0.5) - px0) / ps - 0.5 - xs
            fy = (y0 + s * (ys + 0.5) - py0) / ps - 0.5 - ys
            flow = torch.stack([fx, fy])
            px, py = xs + fx, ys + fy
            masks.append(((px >= 0) & (px <= fw - 1) & (py >= 0) & (py <= fh - 1)).float().unsqueeze(0))
            flows.append(flow)
        prev = (x0, y0, s)
    return torch.stack(out).clamp(0, 1), torch.stack(flows), torch.stack(masks)
