"""What every `transformers` conversion shares: reading and writing the folder, and moving tensors by a key map.

An architecture module (`hf_gpt2`, `hf_bert`) says only what differs: its config translation and a `Rule`
per genzoo tensor naming where `transformers` keeps it. Rules cover the three storage differences met so
far: a plain rename, a transpose (GPT-2's `Conv1D` stores (in, out)) and a split (BERT's separate
query/key/value are the rows of genzoo's fused `qkv`). Everything else lives here once: the safetensors-only
rule (a `pytorch_model.bin` is a pickle and is never read), shape checks that name the tensor, the tokenizer
files, zero biases for a genzoo model trained without them, and atomic writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genzoo.atomic import atomic_write
from genzoo.errors import GenzooError
from genzoo.registry import model_entry, require

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class Rule:
    """Where one genzoo tensor lives in a transformers checkpoint: `names` (several = stacked along dim 0,
    in order), stored transposed or not."""

    names: tuple[str, ...]
    transposed: bool = False

    def read(self, tensors: dict[str, Tensor]) -> Tensor | None:
        """The genzoo tensor; None when a name is absent from the checkpoint."""
        parts = [tensors.get(n) for n in self.names]
        if any(p is None for p in parts):
            return None
        value = parts[0] if len(parts) == 1 else torch.cat(parts, 0)  # type: ignore[arg-type]
        return value.t() if self.transposed else value  # type: ignore[union-attr]

    def write(self, value: Tensor) -> dict[str, Tensor]:
        value = value.detach().cpu()
        value = value.t() if self.transposed else value
        chunks = value.chunk(len(self.names), 0) if len(self.names) > 1 else (value,)
        return {n: c.contiguous() for n, c in zip(self.names, chunks, strict=True)}


#: genzoo parameter name -> its rule, or None for a tensor the transformers form does not hold
RuleOf = Callable[[str], "Rule | None"]


def check_needs(name: str, needs: Any, where: str) -> None:
    """Refuse before reading weights when the converted model (registered as `name`) cannot do `needs`."""
    entry = model_entry(name)
    for capability in needs if isinstance(needs, (tuple, list)) else (needs,) if needs is not None else ():
        require(entry, capability, where=where)


def read_config(directory: Path) -> dict[str, Any]:
    cfg = json.loads((directory / "config.json").read_text())  # hf_model_type has parsed it already
    return cfg if isinstance(cfg, dict) else {}


def read_weights(directory: Path, map_location: str = "cpu") -> dict[str, Tensor]:
    """The checkpoint's tensors from model.safetensors (never the pickle beside it)."""
    weights = directory / WEIGHTS
    if not weights.is_file():
        hint = (
            " (it has only pytorch_model.bin, a pickle genzoo never loads)"
            if (directory / "pytorch_model.bin").is_file()
            else ""
        )
        raise GenzooError(f"{directory} has no {WEIGHTS}{hint}")
    try:
        return load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError) as e:
        raise GenzooError(f"{weights} is corrupt ({str(e).splitlines()[0]})") from None


def fill(model: nn.Module, tensors: dict[str, Tensor], rule_of: RuleOf, where: str) -> None:
    """Copy the checkpoint into `model` by its rules. Tensors without a rule (a tied head; genzoo heads the
    checkpoint has no counterpart of) keep their values; any other tensor the checkpoint lacks, or holds with
    another shape, is refused by name."""
    state = {}
    for key, want in model.state_dict().items():
        rule = rule_of(key)
        if rule is None:
            continue
        value = rule.read(tensors)
        if value is None:
            raise GenzooError(f"{where} lacks {', '.join(rule.names)}, which a checkpoint of this config has")
        if value.shape != want.shape:
            raise GenzooError(
                f"{where}: {', '.join(rule.names)} is {list(value.shape)}, a checkpoint of this "
                f"config has {list(want.shape)}"
            )
        state[key] = value.to(want.dtype)
    model.load_state_dict(state, strict=False)


def hf_tensors(model: nn.Module, rule_of: RuleOf) -> dict[str, Tensor]:
    """The transformers checkpoint of `model`; a Linear or LayerNorm built without a bias is written with a
    zero one (the same function), for architectures whose every layer has one."""
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        rule = rule_of(key)
        if rule is not None:
            out.update(rule.write(value))
    for module_name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.LayerNorm)) and module.bias is None and module.weight is not None:
            rule = rule_of(f"{module_name}.bias")
            if rule is not None:
                out.update(rule.write(torch.zeros(module.weight.shape[0])))
    return out


def read_tokenizer(
    directory: Path, cfg: dict[str, Any], from_vocab_files: Callable[[Path], Any | None], hint: str
) -> str:
    """The folder's tokenizer as genzoo's tokenizer JSON: tokenizer.json, else the architecture's own vocab
    files (`from_vocab_files` builds a `tokenizers.Tokenizer` from them or returns None), else the genzoo
    tokenizer a genzoo-written folder keeps in its config (character tokenizers have no `tokenizers` form)."""
    from tokenizers import Tokenizer

    from genzoo.data.tokenizers import PretrainedTokenizer

    if (directory / "tokenizer.json").is_file():
        hf = Tokenizer.from_file(str(directory / "tokenizer.json"))
    elif (hf := from_vocab_files(directory)) is None:
        if "genzoo_tokenizer" in cfg:
            return str(cfg["genzoo_tokenizer"])
        raise GenzooError(
            f"{directory} has no tokenizer (tokenizer.json, or {hint}); "
            "save it beside the model (tokenizer.save_pretrained)"
        )
    return PretrainedTokenizer(hf).to_json()


def genzoo_tokenizer_entry(model: Any) -> dict[str, str]:
    """config.json's `genzoo_tokenizer` for a tokenizer that has no `tokenizers` form (none otherwise)."""
    return {} if hasattr(model.tokenizer, "hf") else {"genzoo_tokenizer": model.config.tokenizer}


def write_folder(
    directory: Path,
    tensors: dict[str, Tensor],
    config: dict[str, Any],
    tokenizer: Any,
    max_length: int,
    special_tokens: dict[str, str] | None = None,
) -> Path:
    """Write weights, config.json and (for a `tokenizers` tokenizer) tokenizer.json + tokenizer_config.json,
    naming the `special_tokens` (mask_token, pad_token, ...) that `transformers` pipelines look up."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / WEIGHTS, lambda p: save_file(tensors, p, metadata={"format": "pt"}))
    atomic_write(directory / "config.json", lambda p: Path(p).write_text(json.dumps(config, indent=2)))
    if hasattr(tokenizer, "hf"):  # BPE and pretrained tokenizers are HF `tokenizers` objects
        atomic_write(directory / "tokenizer.json", lambda p: Path(p).write_text(tokenizer.hf.to_str()))
        atomic_write(
            directory / "tokenizer_config.json",
            lambda p: Path(p).write_text(
                json.dumps(
                    {
                        "tokenizer_class": "PreTrainedTokenizerFast",
                        "model_max_length": max_length,
                        **(special_tokens or {}),
                    }
                )
            ),
        )
    return directory


def refuse_unsupported(arch: str, model: str, checks: list[tuple[bool, str]]) -> None:
    """One line for the first config feature genzoo's `model` cannot compute exactly."""
    for bad, what in checks:
        if bad:
            raise GenzooError(f"this {arch} checkpoint uses {what}; genzoo's {model} cannot compute it exactly")
