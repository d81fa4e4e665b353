"""A small, configurable U-Net for denoising (Ho et al. 2020; Nichol & Dhariwal 2021; Rombach et al. 2022).

Residual blocks get the noise level through a sinusoidal time embedding (plus an optional class embedding,
whose last index is the "no label" token used for classifier-free guidance). Self-attention runs at the
resolutions named in `attn_resolutions`; where `context_dim` > 0 the attention blocks also cross-attend to
a context sequence (text-to-image feeds token embeddings here); both go through the shared attention
(`genzoo.nn.attention`). Everything is plain PyTorch, so it runs in
channels_last and under bf16 autocast unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.nn.attention import attend, merge_heads, split_heads


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of (possibly fractional) timesteps, (N,) -> (N, dim), as in the Transformer."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the embedding added between them as a per-channel scale and shift."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = _norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = _norm(cout, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


#: channels per head when a block is given `heads=0`. At the low resolutions where U-Nets attend, a step is
#: dominated by per-head overhead, not FLOPs: at 8x8 with 32 channels, head size 8 (4 heads) took 12.6% of a
#: DDPM step for <1% of its FLOPs, and one fused-attention call of head size 32 ran 2.1x faster (CPU, fwd+bwd).
HEAD_DIM = 32


class AttentionBlock(nn.Module):
    """Multi-head self-attention over pixels; with `context_dim`, a cross-attention to `context` follows.

    `heads=0` chooses one head per `HEAD_DIM` channels (at least one)."""

    def __init__(self, channels: int, heads: int = 4, context_dim: int = 0, groups: int = 8) -> None:
        super().__init__()
        if heads <= 0:
            heads = max(1, channels // HEAD_DIM)
        self.heads = heads if channels % heads == 0 else 1
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.cross: nn.ModuleDict | None = None
        if context_dim:
            self.cross = nn.ModuleDict(
                {
                    "norm": _norm(channels, groups),
                    "q": nn.Conv2d(channels, channels, 1),
                    "kv": nn.Linear(context_dim, 2 * channels),
                    "proj": nn.Conv2d(channels, channels, 1),
                }
            )
            nn.init.zeros_(self.cross["proj"].weight)
            nn.init.zeros_(self.cross["proj"].bias)

    @staticmethod
    def _linear(conv: nn.Conv2d, tokens: Tensor) -> Tensor:
        """A 1x1 conv applied as a matmul on (N, L, C) tokens: no NCHW <-> token transposes around it."""
        return F.linear(tokens, conv.weight.flatten(1), conv.bias)

    def forward(self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None) -> Tensor:
        h, w = x.shape[-2:]
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (N, HW, C)
        q, k, v = (split_heads(t, self.heads) for t in self._linear(self.qkv, tokens).chunk(3, dim=-1))
        x = x + _to_map(self._linear(self.proj, merge_heads(attend(q, k, v))), h, w)
        if self.cross is not None and context is not None:
            q = self._linear(self.cross["q"], self.cross["norm"](x).flatten(2).transpose(1, 2))
            k, v = self.cross["kv"](context).chunk(2, dim=-1)  # (N, L, C) each
            heads = (split_heads(t, self.heads) for t in (q, k, v))
            out = attend(*heads, key_mask=context_mask)
            x = x + _to_map(self._linear(self.cross["proj"], merge_heads(out)), h, w)
        return x


def _to_map(tokens: Tensor, h: int, w: int) -> Tensor:
    """(N, HW, C) tokens -> (N, C, H, W) feature map."""
    return tokens.transpose(1, 2).reshape(len(tokens), -1, h, w)


class _Stage(nn.Module):
    """A residual block optionally followed by attention; the unit both halves of the U-Net are made of."""

    def __init__(
        self,
        cin: int,
        cout: int,
        emb_dim: int,
        attn: bool,
        heads: int,
        context_dim: int,
        dropout: float,
        groups: int,
    ) -> None:
        super().__init__()
        self.res = ResBlock(cin, cout, emb_dim, dropout, groups)
        self.attn = AttentionBlock(cout, heads, context_dim, groups) if attn else None

    def forward(self, x: Tensor, emb: Tensor, context: Tensor | None, mask: Tensor | None) -> Tensor:
        x = self.res(x, emb)
        return self.attn(x, context, mask) if self.attn is not None else x


class UNet(nn.Module):
    """Noise-conditional U-Net: `forward(x, t, labels=None, context=None) -> (N, out_channels, H, W)`.

    `channel_mults` sets the width at each resolution (one downsampling between consecutive entries);
    `attn_resolutions` lists feature-map sizes (e.g. 8 for the 8x8 level of a 32x32 input) that get
    attention. Inputs whose sides are not a multiple of 2**(levels-1) are padded and cropped back.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 1,
        attn_resolutions: tuple[int, ...] = (8,),
        heads: int = 4,
        dropout: float = 0.0,
        num_classes: int = 0,
        context_dim: int = 0,
        groups: int = 8,
    ) -> None:
        super().__init__()
        self.base_channels = base_channels
        self.levels = len(channel_mults)
        self.num_classes = num_classes
        emb_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        # index num_classes is the learned "no label" token (classifier-free guidance's unconditional branch)
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        widths = [base_channels * m for m in channel_mults]
        size = image_size + (-image_size) % (2 ** (self.levels - 1))
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [base_channels]
        ch = base_channels
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(
                    _Stage(ch, width, emb_dim, size in attn_resolutions, heads, context_dim, dropout, groups)
                )
                ch = width
                skips.append(ch)
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
                size //= 2
        self.mid1 = _Stage(ch, ch, emb_dim, True, heads, context_dim, dropout, groups)
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout, groups)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.up.append(
                    _Stage(
                        ch + skips.pop(),
                        width,
                        emb_dim,
                        size in attn_resolutions,
                        heads,
                        context_dim,
                        dropout,
                        groups,
                    )
                )
                ch = width
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
                size *= 2
        self.out = nn.Sequential(_norm(ch, groups), nn.SiLU(), nn.Conv2d(ch, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self.num_res_blocks = num_res_blocks

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        labels: Tensor | None = None,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> Tensor:
        h0, w0 = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        if h0 % m or w0 % m:
            x = F.pad(x, (0, (-w0) % m, 0, (-h0) % m))
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, device=x.device, dtype=torch.long)
            emb = emb + self.class_emb(labels)

        h = self.stem(x)
        hs = [h]
        blocks = iter(self.down)
        for level in range(self.levels):
            for _ in range(self.num_res_blocks):
                h = next(blocks)(h, emb, context, context_mask)
                hs.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
                hs.append(h)
        h = self.mid2(self.mid1(h, emb, context, context_mask), emb)
        blocks = iter(self.up)
        for level in range(self.levels):
            for _ in range(self.num_res_blocks + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], dim=1), emb, context, context_mask)
            if level < self.levels - 1:
                h = self.upsample[level](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)[..., :h0, :w0]
