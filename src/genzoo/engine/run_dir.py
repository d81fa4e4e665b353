"""A run directory is checked before training writes into it, not trusted.

`genzoo train --out DIR` resumes whatever DIR holds, so DIR must hold this run: not a file, nothing in it a
symlink leading out of it (training would write wherever the link points), no temp files left by a write that
was killed, and a saved model and checkpoint of the same model, options and dataset as the command asks for:
resuming a VAE's checkpoint into a GAN, or into a VAE with another `latent_dim`, is refused, saying which
differ, instead of failing in a traceback or overwriting the earlier run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genzoo.atomic import remove_stale_temps
from genzoo.errors import GenzooError

#: what training writes in a run directory; each must stay inside it
WRITTEN = ("checkpoints", "logs", "tb", "samples", "config.json", "model.safetensors", "checkpoints/last.ckpt",
           "checkpoints/best.ckpt")


def prepare(out: Path) -> None:
    """Refuse a run directory training cannot safely write into; remove temp files of killed writes."""
    if out.exists() and not out.is_dir():
        raise GenzooError(f"--out {out} is a file, not a run directory; give a directory")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise GenzooError(f"--out {out} cannot be created: {parent} is a file")
    if not out.is_dir():
        return
    root = out.resolve()
    for name in WRITTEN:
        p = out / name
        if p.is_symlink() and not _inside(p.resolve(), root):
            raise GenzooError(f"{p} is a symlink to {p.resolve()}, outside the run directory; training writes "
                              "only inside its --out (remove the link)")
    for name, kind in (("checkpoints", "directory"), ("logs", "directory"), ("checkpoints/last.ckpt", "file"),
                       ("config.json", "file"), ("model.safetensors", "file")):
        p = out / name
        if p.exists() and (p.is_dir() if kind == "file" else not p.is_dir()):
            raise GenzooError(f"{p} should be a {kind} but is not; this is not a usable run directory")
    remove_stale_temps(out, ("config.json", "model.safetensors"))
    if (out / "checkpoints").is_dir():
        remove_stale_temps(out / "checkpoints", ("last.ckpt", "best.ckpt"))


def identity(model: Any) -> dict[str, Any]:
    """What makes a run this run: the model, its options and the dataset it trains on."""
    from genzoo.config import config_to_dict

    info = model.data_info
    data = None if info is None else {"name": info.name, "shape": list(info.shape) if info.shape else None,
                                      "options": info.extra.get("load_options")}
    return {"model": model.model_name, "config": config_to_dict(model.config), "data": data}


def check_same_run(out: Path, model: Any, saved: dict[str, Any] | None) -> None:
    """Refuse to continue a run directory that holds another model, other options or another dataset.

    `saved`: the identity stored in the checkpoint (None for checkpoints of older versions); the saved
    model's config.json is compared too, so a finished run is not overwritten by a different one.
    """
    wanted = json.loads(json.dumps(identity(model)))
    records = [saved] if isinstance(saved, dict) else []
    meta_path = out / "config.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (ValueError, RecursionError, OSError):
            raise GenzooError(f"{meta_path} is corrupt; use a new --out") from None
        if not isinstance(meta, dict):
            raise GenzooError(f"{meta_path} is not a genzoo model config; use a new --out")
        info = meta.get("data_info") if isinstance(meta.get("data_info"), dict) else None
        extra = info.get("extra") if info and isinstance(info.get("extra"), dict) else {}
        records.append({"model": meta.get("model"), "config": meta.get("config"),
                        "data": None if info is None else {"name": info.get("name"), "shape": info.get("shape"),
                                                           "options": extra.get("load_options")}})
    for record in records:
        differ = _differences(json.loads(json.dumps(record, default=str)), wanted)  # tuples read as lists
        if differ:
            raise GenzooError(f"{out} holds another run ({'; '.join(differ)}); resume it with the same "
                              "model, options and data, or use a new --out")


def _differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    if saved.get("model") != wanted["model"]:
        return [f"model {saved.get('model')!r} there, {wanted['model']!r} asked for"]
    old, new = saved.get("config") or {}, wanted["config"]
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if keys:
        out.append("options " + ", ".join(f"{k}={old.get(k)!r} there, {new.get(k)!r} asked for" for k in keys[:3]))
    data_old, data_new = saved.get("data") or {}, wanted["data"] or {}
    if data_old and data_new and (data_old.get("name"), data_old.get("shape")) != (data_new["name"], data_new["shape"]):
        out.append(f"dataset {data_old.get('name')!r} there, {data_new['name']!r} asked for")
    elif data_old and data_new and (data_old.get("options") or {}) != (data_new["options"] or {}):
        out.append(f"dataset options {data_old.get('options')!r} there, {data_new['options']!r} asked for")
    return out


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
