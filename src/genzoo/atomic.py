"""Atomic file writes: a crash mid-write never destroys the previous file (the rename is atomic)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Any) -> None:
    """Call `write(tmp_path)` then rename onto `path` (same directory, so the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_temps(directory: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temp files `atomic_write` leaves for the files `names` in `directory` when a process is
    killed mid-write (SIGKILL runs no cleanup); their targets are intact, since the rename never happened.
    Only those names' temps: anything else in the directory is not genzoo's to remove."""
    removed = []
    for name in names:
        for tmp in Path(directory).glob(f".{name}.*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
