"""genzoo: the families of generative models under one API.

    import genzoo as gz
    train = gz.data.load("mnist5k", split="train")
    model = gz.create("vae", data=train, latent_dim=16)
    gz.fit(model, train, max_steps=2000, out="runs/vae")
    images = model.sample(64)
    model = gz.load("runs/vae")
    gz.evaluate(model, gz.data.load("mnist5k", split="test"), metrics=["fid", "nll"])
    gz.list_models()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genzoo import data
from genzoo.errors import GenzooError
from genzoo.version import __version__

__all__ = ["GenzooError", "__version__", "create", "data", "evaluate", "fit", "list_models", "load", "push_to_hub",
           "save"]


def create(name: str, data: Any = None, seed: int | None = None, **overrides: Any) -> Any:
    """Build model `name`; shape fields come from `data.info`, every other field from `overrides`.

    `seed` seeds every RNG before the weights are drawn, so the same seed builds the same model (pass the
    same seed to `fit` and the whole run repeats exactly). A model whose config has a `seed` field gets it too.
    """
    import dataclasses

    from genzoo.config import build_config
    from genzoo.model_memory import check_fits
    from genzoo.registry import model_entry

    entry = model_entry(name)
    if seed is not None:
        from genzoo.engine.rng import seed_everything

        seed_everything(seed)
        if "seed" in {f.name for f in dataclasses.fields(entry.cls.Config)}:
            overrides["seed"] = seed
    info = getattr(data, "info", None) if data is not None else None
    if data is not None and info is None:
        raise GenzooError("data must be a genzoo dataset (with .info); load one with genzoo.data.load")
    implied = entry.cls.config_from_data(info) if info is not None else {}
    config = build_config(entry.cls.Config, {**implied, **overrides}, what=f"{name!r}")
    check_fits(entry.cls, config, info, what=f"model {name!r} with this config")
    return entry.cls(config, info)


def fit(model: Any, data: Any, **kwargs: Any) -> Any:
    """Train with Lightning Fabric (imported only now); see `genzoo.engine.fit.fit` for every option."""
    from genzoo.engine.fit import fit as _fit

    if kwargs.get("eval_every") and kwargs.get("make_evaluator") is None:
        from genzoo.metrics.during_training import Evaluator

        kwargs["make_evaluator"] = Evaluator
    return _fit(model, data, **kwargs)


def load(path: str, map_location: str = "cpu", needs: Any = None) -> Any:
    """Rebuild any saved model from its directory (config.json + model.safetensors).

    The directory may also be a `transformers` checkpoint (GPT-2 or BERT), converted exactly, and `path` may be
    `hf:owner/name[@revision]`, a Hugging Face hub repository holding either (from the local cache with
    HF_HUB_OFFLINE=1). `needs`: a capability of `genzoo.protocols` (or a tuple of them) the caller will use; a
    run whose model cannot do it is refused in one line, before any weights are read.
    """
    from genzoo.hub import load as _load
    from genzoo.interop import hf_model_type, load_hf
    from genzoo.interop.hf_hub import is_hub_id, snapshot

    if is_hub_id(path):
        path = str(snapshot(path))
    if hf_model_type(path) is not None:
        return load_hf(path, map_location=map_location, needs=needs)
    return _load(path, map_location=map_location, needs=needs)


def save(model: Any, path: str, format: str = "genzoo") -> Any:
    """Write `model` to the directory `path`: as a genzoo run, or with format="hf" as a folder `transformers`
    loads (`AutoModel...from_pretrained(path)`; gpt as GPT-2, a post-norm bert as BERT)."""
    from genzoo.hub import save as _save
    from genzoo.interop import save_hf

    if format not in ("genzoo", "hf"):
        raise GenzooError(f"format must be genzoo or hf, got {format!r}")
    return save_hf(model, path) if format == "hf" else _save(model, path)


def push_to_hub(model: Any, repo: str, format: str = "genzoo", private: bool = False) -> str:
    """Save `model` (see `save`) and upload it to the Hugging Face hub repository `repo`; returns the commit
    URL. `gz.load("hf:" + repo)` reads it back."""
    import tempfile

    from genzoo.interop.hf_hub import push

    with tempfile.TemporaryDirectory() as folder:
        save(model, folder, format=format)
        return push(Path(folder), repo, private=private)


def evaluate(model: Any, data: Any, metrics: list[str] | tuple[str, ...] | None = None,
             **kwargs: Any) -> dict[str, float]:
    """Compute named metrics of `model` on `data` (any of `genzoo.metrics.all_metrics()`: fid, nll, perplexity,
    bleu, forecast, mcd, ...), or, with none named, the defaults that fit the model and the data."""
    from genzoo.metrics import evaluate as _evaluate

    return _evaluate(model, data, metrics=list(metrics) if metrics else None, **kwargs)


def list_models() -> list[dict[str, Any]]:
    """Every registered model: name, family, module, capabilities (declared protocols), description."""
    from genzoo.registry import all_models

    return [{"name": e.name, "family": e.family, "module": e.module, "capabilities": e.capability_names,
             "description": e.description} for e in all_models()]
