"""Where a verb will write, checked before it does any work, so a bad path costs nothing and breaks nothing.

Every verb names its output in an option called `output`, `out` or `json`: a file (`-o grid.png`,
`--json results.json`) or, for the verbs that train, a run directory (`--out runs/x`). Before the verb runs,
`check_outputs` refuses in one line a file path that is a directory, whose parent is a file or cannot be
written, or that is part of a saved run (writing a sample over a run's config.json would destroy the run),
and a run directory that is a file or lies under one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from genzoo.errors import GenzooError

#: verbs whose `--out` is a run directory (every other output option names a file or a file stem)
RUN_DIR_VERBS = {"genzoo train", "genzoo demo", "genzoo forecast train", "genzoo train-style"}
#: files that make a run; an output must not land on one
RUN_FILES = {"config.json", "model.safetensors", "last.ckpt", "best.ckpt"}


def check_outputs(args: argparse.Namespace) -> None:
    verb = getattr(args, "verb_prog", "")
    for dest in ("output", "out", "json"):
        value = getattr(args, dest, None)
        if value is None:
            continue
        path = Path(value)
        flag = "--json" if dest == "json" else ("--out" if dest == "out" else "-o/--output")
        if dest == "out" and verb in RUN_DIR_VERBS:
            _check_run_dir(path, flag)
        else:
            _check_file(path, flag)


def _check_run_dir(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise GenzooError(f"{flag} {path} is a file; a run directory is needed")
    _check_parents(path, flag)


def _check_file(path: Path, flag: str) -> None:
    if str(path) in ("", "."):
        raise GenzooError(f"{flag} needs a file name")
    if path.is_dir():
        raise GenzooError(f"{flag} {path} is a directory; give a file name such as {path / 'out.png'}")
    _check_parents(path, flag)
    in_run = (path.parent / "config.json").is_file() and path.name.endswith((".json", ".safetensors", ".ckpt"))
    if path.name in RUN_FILES or path.parent.name == "checkpoints" or in_run:
        raise GenzooError(f"{flag} {path} would overwrite part of a saved run; write somewhere else")
    if path.exists() and not os.access(path, os.W_OK):
        raise GenzooError(f"{flag} {path} exists and is read-only")


def _check_parents(path: Path, flag: str) -> None:
    """The nearest existing parent must be a directory this process can write into."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise GenzooError(f"{flag} {path} cannot be created: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GenzooError(f"{flag} {path} cannot be written: {parent} is read-only")
