"""A U-Net for clips with factorised space-time layers (Ho et al. 2022, "Video Diffusion Models").

Every frame goes through the image U-Net's own pieces (`genzoo.nn.unet`: residual blocks, spatial
self-attention, spatial down/upsampling), with the batch and frame axes folded together; after each
residual block a temporal layer mixes information across frames at every pixel: a kernel-3 convolution
over time and multi-head self-attention over the frame axis with a learned frame-position embedding.
Space and time are never mixed in one layer, which is what makes this far cheaper than full 3D attention.

With `causal=True` the temporal convolution is padded on the past side only and the temporal attention
is masked to earlier frames, so the output at frame t depends on input frames <= t alone (the per-frame
layers, GroupNorm included, never look across frames). Layout: (N, C, T, H, W).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.nn.attention import attend, merge_heads, split_heads
from genzoo.nn.unet import AttentionBlock, ResBlock, _norm, timestep_embedding


class TemporalMix(nn.Module):
    """Residual temporal convolution (kernel 3 over frames), then optionally residual temporal attention.

    Both residual branches start at zero, so a fresh network is a per-frame image U-Net; training grows
    the cross-frame paths. Attention over 8 frames at every pixel of a 32x32 map costs as much as the
    convolutions, so like spatial attention it runs only at the resolutions the U-Net names.
    """

    def __init__(self, channels: int, max_frames: int, heads: int = 4, causal: bool = False,
                 attention: bool = True, groups: int = 8) -> None:
        super().__init__()
        self.causal = causal
        self.heads = heads if channels % heads == 0 else 1
        self.conv_norm = _norm(channels, groups)
        self.conv = nn.Conv3d(channels, channels, (3, 1, 1))
        zero = [self.conv]
        if attention:
            self.attn_norm = _norm(channels, groups)
            self.pos = nn.Parameter(torch.randn(max_frames, channels) * 0.02)
            self.qkv = nn.Linear(channels, 3 * channels)
            self.proj = nn.Linear(channels, channels)
            zero.append(self.proj)
        self.attention = attention
        for layer in zero:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        """x: (N*T, C, H, W) with frames of one clip consecutive; returns the same shape."""
        nt, c, h, w = x.shape
        n = nt // frames
        # GroupNorm normalises each frame on its own, so only the conv and attention below cross frames
        y = F.silu(self.conv_norm(x)).reshape(n, frames, c, h, w).transpose(1, 2)  # (N, C, T, H, W)
        y = F.pad(y, (0, 0, 0, 0, 2, 0) if self.causal else (0, 0, 0, 0, 1, 1))
        x = x + self.conv(y).transpose(1, 2).reshape(nt, c, h, w)
        if not self.attention:
            return x
        seq = self.attn_norm(x).reshape(n, frames, c, h * w).permute(0, 3, 1, 2).reshape(n * h * w, frames, c)
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(seq + self.pos[:frames]).chunk(3, dim=-1))
        out = self.proj(merge_heads(attend(q, k, v, causal=self.causal)).reshape(n, h * w, frames, c))
        return x + out.permute(0, 2, 3, 1).reshape(nt, c, h, w)


class _VideoStage(nn.Module):
    """Per-frame residual block, temporal mixing, then (at chosen resolutions) per-frame spatial attention."""

    def __init__(self, cin: int, cout: int, emb_dim: int, attn: bool, temporal_attn: bool, heads: int,
                 max_frames: int, causal: bool, dropout: float, groups: int) -> None:
        super().__init__()
        self.res = ResBlock(cin, cout, emb_dim, dropout, groups)
        self.temporal = TemporalMix(cout, max_frames, heads, causal, temporal_attn, groups)
        self.attn = AttentionBlock(cout, heads, 0, groups) if attn else None

    def forward(self, x: Tensor, emb: Tensor, frames: int) -> Tensor:
        x = self.temporal(self.res(x, emb), frames)
        return self.attn(x) if self.attn is not None else x


class VideoUNet(nn.Module):
    """Noise-conditional space-time U-Net: `forward(x (N, C_in, T, H, W), t (N,)) -> (N, C_out, T, H, W)`.

    Same knobs as `genzoo.nn.unet.UNet` (widths per level, residual blocks, spatial attention
    resolutions) plus `temporal_attn_resolutions` (feature-map sizes with attention across frames; every
    level has the temporal convolution), `max_frames` (length of the frame-position embedding) and `causal`.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int, max_frames: int,
                 base_channels: int = 32, channel_mults: tuple[int, ...] = (1, 2, 2), num_res_blocks: int = 1,
                 attn_resolutions: tuple[int, ...] = (8,), temporal_attn_resolutions: tuple[int, ...] = (16, 8),
                 heads: int = 4, causal: bool = False, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        self.base_channels = base_channels
        self.levels = len(channel_mults)
        self.num_res_blocks = num_res_blocks
        self.max_frames = max_frames
        self.causal = causal
        emb_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.stem = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        def stage(cin: int, cout: int, size: int | None) -> _VideoStage:  # size None: the middle, gets all
            attn = size is None or size in attn_resolutions
            temporal_attn = size is None or size in temporal_attn_resolutions
            return _VideoStage(cin, cout, emb_dim, attn, temporal_attn, heads, max_frames, causal, dropout, groups)

        widths = [base_channels * m for m in channel_mults]
        size = image_size + (-image_size) % (2 ** (self.levels - 1))
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, ch = [base_channels], base_channels
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(stage(ch, width, size))
                ch = width
                skips.append(ch)
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
                size //= 2
        self.mid1 = stage(ch, ch, None)
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout, groups)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.up.append(stage(ch + skips.pop(), width, size))
                ch = width
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
                size *= 2
        self.out = nn.Sequential(_norm(ch, groups), nn.SiLU(), nn.Conv2d(ch, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        n, _, frames, h0, w0 = x.shape
        if frames > self.max_frames:
            raise ValueError(f"clip has {frames} frames; this network was built for at most {self.max_frames}")
        m = 2 ** (self.levels - 1)
        x = x.transpose(1, 2).reshape(n * frames, -1, h0, w0)  # fold frames into the batch
        x = F.pad(x, (0, (-w0) % m, 0, (-h0) % m))
        emb = self.time_mlp(timestep_embedding(t, self.base_channels)).repeat_interleave(frames, dim=0)

        h = self.stem(x)
        hs = [h]
        blocks = iter(self.down)
        for level in range(self.levels):
            for _ in range(self.num_res_blocks):
                h = next(blocks)(h, emb, frames)
                hs.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
                hs.append(h)
        h = self.mid2(self.mid1(h, emb, frames), emb)
        blocks = iter(self.up)
        for level in range(self.levels):
            for _ in range(self.num_res_blocks + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], dim=1), emb, frames)
            if level < self.levels - 1:
                h = self.upsample[level](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.out(h)[..., :h0, :w0]
        return out.reshape(n, frames, -1, h0, w0).transpose(1, 2)

