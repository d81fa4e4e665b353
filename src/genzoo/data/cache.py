"""The download cache: where fetched files live, and `fetch` with checksums and a clear offline error.

Files land in `$GENZOO_CACHE` (default `~/.cache/genzoo`). When a file cannot be fetched (no network), the
error says which file and where to put it by hand; a file placed there is verified and used. Checksums are
`algo:hex` (md5 where the maintainers publish md5, else sha256).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from genzoo.errors import GenzooError


def cache_dir() -> Path:
    return Path(os.environ.get("GENZOO_CACHE", Path.home() / ".cache" / "genzoo"))


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(urls: list[str], filename: str, checksum: str, subdir: str) -> Path:
    """Return the cached, verified file, downloading it from the first URL that answers."""
    algo, want = checksum.split(":", 1)
    target = cache_dir() / subdir / filename
    if target.exists():
        if file_digest(target, algo) == want:
            return target
        raise GenzooError(f"{target} fails its {algo} check (corrupt or a different file); delete it and retry")
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        tmp = target.with_suffix(target.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:  # noqa: S310
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except OSError as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            tmp.unlink(missing_ok=True)
            continue
        if file_digest(tmp, algo) != want:
            tmp.unlink(missing_ok=True)
            errors.append(f"{url}: checksum mismatch")
            continue
        os.replace(tmp, target)
        return target
    raise GenzooError(
        f"could not download {filename} ({errors[0] if errors else 'no URL'}); offline? "
        f"place the file by hand at {target} (from {urls[0]})"
    )
