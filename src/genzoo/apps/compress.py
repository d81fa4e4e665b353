"""Learned lossy image compression into real files: VQ-VAE tokens, range-coded under the model's prior.

    genzoo compress RUN in.png -o out.gzc
    genzoo decompress RUN out.gzc -o back.png

An image is cut into tiles of the model's image size (edges padded by replication, cropped again on the
way out), each tile is encoded to a token grid, and the tokens are range-coded (`constriction`) in raster
order under the VQ-VAE's autoregressive prior, position by position across all tiles. The decoder repeats
the same prior computations on the tokens it has already decoded, so it recovers the tokens exactly and
`decompress` returns exactly the model's quantised reconstruction. The payload is within a few bytes of the
prior's ideal code length (`rate_bits`), which is what the training objective minimised.

File layout (little-endian), 26-byte header then payload:
    magic b"GZVQ" | version u8 | model fingerprint 8 bytes | channels u8 | height u16 | width u16 |
    payload length u32 | CRC-32 of payload u32 | payload (u32 words of the range coder)
The fingerprint (a hash of the weights) makes decompressing with a different model fail loudly instead of
producing garbage. The probabilities are computed in float64 on the CPU; files decode on the machine type
that wrote them (bit-identical floating point is not guaranteed across CPU instruction sets).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.errors import GenzooError
from genzoo.protocols import Compressor
from genzoo.registry import check_model

MAGIC = b"GZVQ"
VERSION = 1
HEADER = struct.Struct("<4sB8sBHHII")
MAX_SIDE = 4096  # pixels per side; larger images are refused rather than tiled for minutes


# -- pieces ----------------------------------------------------------------------------------------
def fingerprint(model: torch.nn.Module) -> bytes:
    """8 bytes identifying the weights (and buffers, the codebook included) of a model."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


def _check_image(model: Any, img: Tensor) -> None:
    c = model.config.image_shape[0]
    if img.ndim != 3 or img.shape[0] != c:
        raise GenzooError(f"image must be ({c}, H, W) for this model, got shape {tuple(img.shape)}")
    if max(img.shape[1:]) > MAX_SIDE or min(img.shape[1:]) < 1:
        raise GenzooError(
            f"image is {img.shape[2]}x{img.shape[1]} px; genzoo compress tiles images of 1 to "
            f"{MAX_SIDE} px a side (split larger ones first)"
        )


def to_tiles(model: Any, img: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """(C, H, W) -> (T, C, th, tw) tiles of the model's image size and the tile-grid shape."""
    _, th, tw = model.config.image_shape
    _, h, w = img.shape
    ny, nx = math.ceil(h / th), math.ceil(w / tw)
    padded = F.pad(img[None], (0, nx * tw - w, 0, ny * th - h), mode="replicate")[0]
    tiles = padded.unfold(1, th, th).unfold(2, tw, tw)  # (C, ny, nx, th, tw)
    return tiles.permute(1, 2, 0, 3, 4).reshape(ny * nx, img.shape[0], th, tw), (ny, nx)


def from_tiles(tiles: Tensor, grid: tuple[int, int], height: int, width: int) -> Tensor:
    ny, nx = grid
    t, c, th, tw = tiles.shape
    img = tiles.view(ny, nx, c, th, tw).permute(2, 0, 3, 1, 4).reshape(c, ny * th, nx * tw)
    return img[:, :height, :width]


def quantize8(img: Tensor) -> Tensor:
    """Round to 8-bit levels, as a PNG stores them."""
    return torch.round(img.clamp(0, 1) * 255) / 255


@torch.no_grad()
def tokens_of(model: Any, img: Tensor) -> tuple[Tensor, tuple[int, int]]:
    _check_image(model, img)
    tiles, grid = to_tiles(model, quantize8(img.float().cpu()))
    return model.encode_tokens(tiles).cpu(), grid


@torch.no_grad()
def reconstruct(model: Any, img: Tensor) -> Tensor:
    """What `decompress` returns for `img`: the model's 8-bit reconstruction, (C, H, W)."""
    idx, grid = tokens_of(model, img)
    return quantize8(from_tiles(model.decode_tokens(idx).cpu(), grid, img.shape[1], img.shape[2]))


@torch.no_grad()
def rate_estimate_bits(model: Any, img: Tensor) -> float:
    """The prior's ideal code length of the image's tokens, in bits (payload only, header excluded)."""
    idx, _ = tokens_of(model, img)
    return float(model.rate_bits(idx).sum())


def _coding_probs(model: Any, tokens: Tensor, position: int) -> np.ndarray:
    """Distributions for raster position `position` of every tile given the tokens before it, (T, K)."""
    k = model.config.codebook_size
    _, w = model.grid
    r, c = divmod(position, w)
    none = torch.full((len(tokens),), k, dtype=torch.long)
    left = tokens[:, r, c - 1] if c > 0 else none
    up = tokens[:, r - 1, c] if r > 0 else none
    return model.prior_probs_at(position, left.to(model.device), up.to(model.device)).cpu().numpy()


# -- the codec -------------------------------------------------------------------------------------
@torch.no_grad()
def compress_image(model: Any, img: Tensor) -> bytes:
    """A (C, H, W) image in [0, 1] -> the bytes of a .gzc file."""
    import constriction  # a compiled module: its submodules are attributes, not importable paths

    check_model(model, Compressor)
    model.eval()
    idx, _ = tokens_of(model, img)
    enc, cat = constriction.stream.queue.RangeEncoder(), constriction.stream.model.Categorical(perfect=False)
    h, w = model.grid
    for p in range(h * w):
        probs = _coding_probs(model, idx, p)
        enc.encode(idx[:, p // w, p % w].numpy().astype(np.int32), cat, probs)
    payload = enc.get_compressed().astype("<u4").tobytes()
    header = HEADER.pack(
        MAGIC,
        VERSION,
        fingerprint(model),
        img.shape[0],
        img.shape[1],
        img.shape[2],
        len(payload),
        zlib.crc32(payload),
    )
    return header + payload


def read_header(data: bytes) -> tuple[bytes, int, int, int, bytes]:
    """Validate a .gzc file's header and checksum; returns (fingerprint, channels, height, width, payload)."""
    if len(data) < HEADER.size:
        raise GenzooError(
            f"not a genzoo compressed file: {len(data)} bytes is shorter than the {HEADER.size}-byte header"
        )
    magic, version, fp, c, h, w, n, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise GenzooError("not a genzoo compressed file (wrong magic bytes)")
    if version != VERSION:
        raise GenzooError(
            f"compressed file has format version {version}; this genzoo reads version {VERSION}"
        )
    payload = data[HEADER.size :]
    if len(payload) != n or n % 4:
        raise GenzooError(
            f"compressed file is truncated or corrupt: payload is {len(payload)} bytes, header says {n}"
        )
    if zlib.crc32(payload) != crc:
        raise GenzooError("compressed file is corrupt: checksum mismatch")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and c >= 1):
        raise GenzooError(f"compressed file is corrupt: impossible image size {c}x{h}x{w}")
    return fp, c, h, w, payload


@torch.no_grad()
def decompress_bytes(model: Any, data: bytes) -> Tensor:
    """The bytes of a .gzc file -> the (C, H, W) image, exactly `reconstruct(model, original)`."""
    import constriction

    check_model(model, Compressor)
    model.eval()
    fp, c, height, width, payload = read_header(data)
    if fp != fingerprint(model):
        raise GenzooError("this file was compressed with a different model (weights fingerprint differs)")
    if c != model.config.image_shape[0]:
        raise GenzooError(f"file holds {c}-channel images but the model makes {model.config.image_shape[0]}")
    _, th, tw = model.config.image_shape
    grid = (math.ceil(height / th), math.ceil(width / tw))
    h, w = model.grid
    idx = torch.zeros(grid[0] * grid[1], h, w, dtype=torch.long)
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    dec = constriction.stream.queue.RangeDecoder(words)
    cat = constriction.stream.model.Categorical(perfect=False)
    try:
        for p in range(h * w):
            probs = _coding_probs(model, idx, p)
            idx[:, p // w, p % w] = torch.from_numpy(np.asarray(dec.decode(cat, probs), dtype=np.int64))
    except (ValueError, RuntimeError, AssertionError) as e:  # a payload the prior cannot have produced
        raise GenzooError(f"compressed file is corrupt: range decoding failed ({e})") from None
    return quantize8(from_tiles(model.decode_tokens(idx).cpu(), grid, height, width))


# -- files -----------------------------------------------------------------------------------------
def read_image(path: str | Path, channels: int) -> Tensor:
    """A PNG/JPEG/... as (C, H, W) floats in [0, 1], converted to the model's channel count."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"no image at {path}")
    try:
        with Image.open(path) as im:
            if max(im.size) > MAX_SIDE:
                raise GenzooError(
                    f"image is {im.size[0]}x{im.size[1]} px; genzoo compress tiles images of "
                    f"1 to {MAX_SIDE} px a side (split larger ones first)"
                )
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise GenzooError(f"{path} is not a readable image ({e})") from None
    t = torch.from_numpy(arr)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def image_bytes(img: Tensor, fmt: str = "PNG", **params: Any) -> bytes:
    """Encode a (C, H, W) image in [0, 1] with Pillow (PNG, JPEG, WEBP) and return the file's bytes."""
    from PIL import Image

    arr = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def decode_image_bytes(data: bytes, channels: int) -> Tensor:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    t = torch.from_numpy(arr)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def _write(path: Path, data: bytes) -> None:
    from genzoo.atomic import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def cmd_compress(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run)
    check_model(model, Compressor)
    img = read_image(args.input, model.config.image_shape[0])
    data = compress_image(model, img)
    out = Path(args.output or Path(args.input).with_suffix(".gzc"))
    _write(out, data)
    px = img.shape[1] * img.shape[2]
    est = (rate_estimate_bits(model, img) / 8) + HEADER.size
    print(
        f"genzoo: wrote {out} ({len(data)} bytes, {8 * len(data) / px:.3f} bpp; "
        f"model's rate estimate {est:.0f} bytes incl. header)"
    )


def cmd_decompress(args: argparse.Namespace) -> None:
    import genzoo as gz

    path = Path(args.input)
    if not path.is_file():
        raise GenzooError(f"no compressed file at {path}")
    model = gz.load(args.run)
    img = decompress_bytes(model, path.read_bytes())
    out = Path(args.output or path.with_suffix(".png"))
    _write(out, image_bytes(img))
    print(f"genzoo: wrote {out} ({img.shape[2]}x{img.shape[1]} px)")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("compress", help="compress an image with a trained VQ-VAE into a .gzc file")
    p.add_argument("run")
    p.add_argument("input")
    p.add_argument("-o", "--output", default=None)
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("decompress", help="decompress a .gzc file back into a PNG")
    p.add_argument("run")
    p.add_argument("input")
    p.add_argument("-o", "--output", default=None)
    p.set_defaults(func=cmd_decompress)
