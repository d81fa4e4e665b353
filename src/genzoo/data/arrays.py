"""A user's .npy/.npz file, read only after its header says it is an array genzoo can use.

`np.load` trusts the header: a 100-byte .npy whose header claims 23 TiB makes numpy try to allocate it (or
fail deep inside with a traceback), and a .npz is a zip whose members can inflate without bound. So the
header of every array is read first and refused, by file and key, when it is an object, string or record
array, holds no elements, claims more bytes than the file holds (.npy) or than the machine has free, or
than GENZOO_MAX_ARRAY_BYTES when that is set.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from genzoo.errors import GenzooError
from genzoo.hardware import available_memory_bytes, large_allowed


def limit_bytes() -> int:
    """The most bytes one array may take: GENZOO_MAX_ARRAY_BYTES, else half the free memory."""
    env = os.environ.get("GENZOO_MAX_ARRAY_BYTES")
    if env and env.isdigit():
        return int(env)
    return 1 << 62 if large_allowed() else available_memory_bytes() // 2


def read_array(path: str | Path) -> np.ndarray | dict[str, np.ndarray]:
    """The array in a .npy file, or {key: array} of a .npz file, each checked before it is read."""
    p = Path(path)
    if not p.is_file():
        raise GenzooError(f"{p} is not a file" if p.exists() else f"array file not found: {p}")
    if p.stat().st_size == 0:
        raise GenzooError(f"{p} is empty (0 bytes); expected a .npy or .npz array")
    try:
        if p.suffix == ".npz" or zipfile.is_zipfile(p):
            return _read_npz(p)
        with open(p, "rb") as f:
            _check_header(f, str(p), available=p.stat().st_size)
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except GenzooError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise GenzooError(f"cannot read {p}: not a valid .npy/.npz array ({_first_line(e)})") from None


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(p) as z:
        members = [m for m in z.infolist() if m.filename.endswith(".npy")]
        if not members:
            raise GenzooError(f"{p} holds no arrays (an empty or foreign .npz)")
        total = 0
        for m in members:
            with z.open(m) as f:
                total += _check_header(f, f"{p}[{m.filename[:-4]}]", available=m.file_size)
        if total > limit_bytes():
            raise GenzooError(f"{p} holds {_size(total)} of arrays, more than the {_size(limit_bytes())} "
                              "allowed (GENZOO_MAX_ARRAY_BYTES)")
        out = {}
        for m in members:
            with z.open(m) as f:
                out[m.filename[:-4]] = np.load(f, allow_pickle=False)
        return out


def _check_header(f: IO[bytes], where: str, available: int) -> int:
    """Bytes of the array whose .npy header `f` starts with, refusing what cannot be read safely."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f, max_header_size=10_000)
    except (ValueError, EOFError, SyntaxError) as e:
        raise GenzooError(f"{where} is not a valid .npy array ({_first_line(e)})") from None
    if dtype.hasobject or dtype.kind in "OUSVMm":
        raise GenzooError(f"{where} is a {dtype} array; genzoo reads numeric arrays only (no objects or strings)")
    count = int(np.prod(shape, dtype=object))
    if count == 0:
        raise GenzooError(f"{where} is an empty array (shape {shape})")
    nbytes = count * dtype.itemsize
    if nbytes > available - f.tell():
        raise GenzooError(f"{where} claims {_size(nbytes)} (shape {shape}) but the file holds less; "
                          "it is truncated or corrupt")
    if nbytes > limit_bytes():
        raise GenzooError(f"{where} is {_size(nbytes)} (shape {shape}), more than the {_size(limit_bytes())} "
                          "allowed (half the free memory; GENZOO_MAX_ARRAY_BYTES)")
    return nbytes


def _size(n: int) -> str:
    return f"{n / 2**40:,.1f} TiB" if n >= 2**40 else f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n:,} bytes"


def _first_line(e: Any) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def read_one_array(path: str | Path, keys: tuple[str, ...] = ("x", "images")) -> np.ndarray:
    """One array of a .npy file, or of a .npz file (the first of `keys` it has, else its first array)."""
    loaded = read_array(path)
    if isinstance(loaded, np.ndarray):
        return loaded
    key = next((k for k in keys if k in loaded), next(iter(loaded)))
    return loaded[key]
