"""House rules the code must keep: imports only point down the layers, and applications ask for
capabilities instead of probing a model's name, class or attributes (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "genzoo"

#: top to bottom; a module may import from its own layer or any layer below it, never above
LAYERS = [
    ("cli", "sampling", "demo", "serve", "serve_panels"),
    ("apps",),
    ("cli_args", "cli_ranges", "cli_paths", "latent"),
    ("__init__",),
    ("interop",),
    ("models",),
    ("metrics",),
    ("generation", "nn"),
    ("engine", "viz"),
    ("base",),
    ("hub",),
    ("data",),
    ("registry", "config", "model_memory"),
    ("protocols", "atomic", "hardware", "errors", "version", "optim"),
]


def layer_of(module: str) -> int:
    """Index in LAYERS of `genzoo.<top>...` (0 = top)."""
    top = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"module {module} is in no layer; add its top-level name to LAYERS")


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "genzoo":  # from genzoo import hub, protocols
            out += [(node.lineno, f"genzoo.{a.name}" if (SRC / a.name).exists() or (SRC / f"{a.name}.py").exists()
                     else "genzoo.__init__") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genzoo"):
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("genzoo")]
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_imports_only_point_down_the_layers():
    upward = []
    for path in SRC.rglob("*.py"):
        here = module_name(path)
        mine = layer_of(here)
        for line, target in imports(path):
            if target == "genzoo":  # `import genzoo as gz` is the public API layer
                target = "genzoo.__init__"
            if layer_of(target) < mine:
                upward.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


PROBES = [
    (re.compile(r"model_name\s*(==|!=|in\b)|\bif\b[^#]*\bname\s+in\s+\(\""), "a model-name check"),
    (re.compile(r"hasattr\(\s*model\b|getattr\(\s*model\s*,\s*\"(?!model_name)"), "a hasattr capability probe"),
    (re.compile(r"isinstance\(\s*model\s*,\s*(?!torch\.|Tensor)"), "an isinstance on a model class"),
]


def test_applications_ask_for_capabilities_not_names():
    found = []
    files = [*SRC.joinpath("apps").glob("*.py"), *SRC.joinpath("engine").glob("*.py"), SRC / "cli.py",
             SRC / "sampling.py", SRC / "serve.py", SRC / "serve_panels.py"]
    for path in files:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, what in PROBES:
                if pattern.search(line):
                    found.append(f"{path.relative_to(SRC)}:{i}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_model_file_is_named_after_its_model():
    from genzoo.registry import all_models

    for entry in all_models():
        assert entry.module == f"genzoo.models.{entry.family}.{entry.name}"
        assert (SRC / "models" / entry.family / f"{entry.name}.py").is_file()
