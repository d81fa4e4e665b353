"""Anchor libraries in their own virtual environments, layered on the project's .venv.

Some anchors pin old dependencies (pythae wants the `dataclasses` backport, for one); installing them into
.venv could break genzoo. Each anchor gets `.anchors/<name>/`, a venv that sees .venv's packages through a
.pth file and adds only the anchor (and whatever it lacks) on top. Nothing here is committed but this script.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"


def anchor_python(name: str, packages: list[str]) -> Path:
    """Path to a python that can import `packages` (installed with --no-deps) beside genzoo's deps."""
    env = ROOT / ".anchors" / name
    py = env / "bin" / "python"
    stamp = env / ".installed"
    if stamp.is_file() and stamp.read_text() == " ".join(packages):
        return py
    if not py.exists():
        venv.create(env, with_pip=True)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "genzoo_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n" + str(ROOT / "src") + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-c", str(CONSTRAINTS), *packages],
                   check=True)
    stamp.write_text(" ".join(packages))
    return py


if __name__ == "__main__":
    print(anchor_python(sys.argv[1], sys.argv[2:]))
