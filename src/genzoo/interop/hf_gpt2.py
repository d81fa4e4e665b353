"""GPT-2 (`transformers`' `GPT2LMHeadModel`) <-> genzoo's `gpt`, exactly.

genzoo's `gpt` with learned positions, biases and the tanh GELU is GPT-2: the same pre-norm blocks, one fused
q|k|v projection in the same order, tied embeddings, LayerNorm eps 1e-5. The only differences are names and
that GPT-2 stores its projections as `Conv1D` (weight (in, out), the transpose of a `Linear`'s), so converting
is a key map and four transposes. The GPT-2 byte-level BPE (tokenizer.json, or vocab.json + merges.txt) becomes
a `PretrainedTokenizer` with the ids the checkpoint was trained on.

Writing back: a model without biases is one whose biases are zero, so any learned-position `gpt` has a GPT-2
form; a rotary one does not (GPT-2 has no rotary positions) and is refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genzoo.atomic import atomic_write
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.transformers.gpt import GPT
from genzoo.registry import model_entry, require

WEIGHTS = "model.safetensors"
#: GPT-2's activation_function values -> genzoo's `activation` (gelu_new is the tanh approximation)
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
#: genzoo name pattern -> GPT-2 name; the layer index is carried as {i}
BLOCK_KEYS = {
    "ln1": "ln_1", "ln2": "ln_2", "attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj",
    "mlp.up": "mlp.c_fc", "mlp.down": "mlp.c_proj",
}
CONV1D = ("attn.qkv", "attn.proj", "mlp.up", "mlp.down")  # stored transposed by GPT-2
TOP_KEYS = {"tok_emb.weight": "transformer.wte.weight", "pos_emb.weight": "transformer.wpe.weight",
            "ln_f.weight": "transformer.ln_f.weight", "ln_f.bias": "transformer.ln_f.bias",
            "head.weight": "lm_head.weight"}


def hf_name(key: str) -> tuple[str, bool]:
    """genzoo parameter name -> (GPT-2 name, stored transposed)."""
    if key in TOP_KEYS:
        return TOP_KEYS[key], False
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
    if m is None or m.group(2) not in BLOCK_KEYS:
        raise GenzooError(f"genzoo gpt parameter {key!r} has no GPT-2 counterpart")
    layer, part, kind = m.groups()
    return f"transformer.h.{layer}.{BLOCK_KEYS[part]}.{kind}", part in CONV1D and kind == "weight"


def options_from_hf(cfg: dict[str, Any]) -> dict[str, Any]:
    """genzoo `gpt` options computing what this GPT-2 config computes; refuses what genzoo's block lacks."""
    d = int(cfg.get("n_embd", 768))
    act = cfg.get("activation_function", "gelu_new")
    unsupported = [
        (act not in ACTIVATIONS, f"activation_function {act!r} (genzoo has: {', '.join(ACTIVATIONS)})"),
        (cfg.get("n_inner") not in (None, 4 * d), f"n_inner {cfg.get('n_inner')} (genzoo's MLP is 4 x n_embd)"),
        (float(cfg.get("layer_norm_epsilon", 1e-5)) != 1e-5, "layer_norm_epsilon other than 1e-5"),
        (not cfg.get("scale_attn_weights", True), "scale_attn_weights=false"),
        (bool(cfg.get("scale_attn_by_inverse_layer_idx")), "scale_attn_by_inverse_layer_idx"),
        (bool(cfg.get("add_cross_attention")), "cross-attention"),
    ]
    for bad, what in unsupported:
        if bad:
            raise GenzooError(f"this GPT-2 checkpoint uses {what}; genzoo's gpt cannot compute it exactly")
    return {
        "vocab_size": int(cfg.get("vocab_size", 50257)), "context_length": int(cfg.get("n_positions", 1024)),
        "n_layer": int(cfg.get("n_layer", 12)), "n_head": int(cfg.get("n_head", 12)), "d_model": d,
        "dropout": float(cfg.get("resid_pdrop", 0.0)), "positions": "learned", "bias": True,
        "activation": ACTIVATIONS[act], "tie_weights": bool(cfg.get("tie_word_embeddings", True)),
    }


def read_tokenizer(directory: Path, cfg: dict[str, Any]) -> str:
    """The folder's tokenizer as genzoo's tokenizer JSON: its tokenizer files, else the genzoo tokenizer a
    genzoo-written folder keeps in its config (character tokenizers have no `tokenizers` form)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from genzoo.data.tokenizers import PretrainedTokenizer

    if (directory / "tokenizer.json").is_file():
        hf = Tokenizer.from_file(str(directory / "tokenizer.json"))
    elif (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
        hf = Tokenizer(models.BPE.from_file(str(directory / "vocab.json"), str(directory / "merges.txt")))
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        hf.add_special_tokens(["<|endoftext|>"])
    elif "genzoo_tokenizer" in cfg:
        return str(cfg["genzoo_tokenizer"])
    else:
        raise GenzooError(f"{directory} has no tokenizer (tokenizer.json, or vocab.json + merges.txt); "
                          "save it beside the model (tokenizer.save_pretrained)")
    return PretrainedTokenizer(hf).to_json()


def load(directory: Path, map_location: str = "cpu", needs: Any = None) -> GPT:
    """The genzoo `gpt` equal to the GPT-2 checkpoint in `directory`."""
    from genzoo.config import build_config

    entry = model_entry("gpt")
    for capability in (needs if isinstance(needs, (tuple, list)) else (needs,) if needs is not None else ()):
        require(entry, capability, where=str(directory))
    cfg = json.loads((directory / "config.json").read_text())
    weights = directory / WEIGHTS
    if not weights.is_file():
        hint = " (it has only pytorch_model.bin, a pickle genzoo never loads)" if (
            directory / "pytorch_model.bin").is_file() else ""
        raise GenzooError(f"{directory} has no {WEIGHTS}{hint}")
    options = {**options_from_hf(cfg), "tokenizer": read_tokenizer(directory, cfg)}
    info = DataInfo(name=cfg.get("_name_or_path") or directory.name, kind="text",
                    extra={"vocab_size": options["vocab_size"], "source": "transformers gpt2"})
    model = GPT(build_config(GPT.Config, options, what="'gpt'"), info)
    tensors = load_file(str(weights), device=str(map_location))
    tensors = {k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}": v for k, v in tensors.items()}
    state = {}
    for key in model.state_dict():
        if key == "head.weight" and model.config.tie_weights:
            continue
        name, transposed = hf_name(key)
        if name not in tensors:
            raise GenzooError(f"{weights} lacks {name}, which a GPT-2 of this config has")
        state[key] = tensors[name].t() if transposed else tensors[name]
    model.load_state_dict(state, strict=not model.config.tie_weights)  # a tied head is tok_emb's tensor
    return model.to(map_location).eval()


def hf_config(model: GPT) -> dict[str, Any]:
    c = model.config
    activation = {"gelu_tanh": "gelu_new", "gelu": "gelu"}[c.activation]
    tokenizer = {} if hasattr(model.tokenizer, "hf") else {"genzoo_tokenizer": c.tokenizer}
    return {**tokenizer,
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocab_size,
        "n_positions": c.context_length, "n_embd": c.d_model, "n_layer": c.n_layer, "n_head": c.n_head,
        "n_inner": None, "activation_function": activation, "resid_pdrop": c.dropout, "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": c.tie_weights,
        "scale_attn_weights": True,
    }


def save(model: GPT, directory: Path) -> Path:
    """Write `model` as a GPT-2 folder `transformers` loads with `GPT2LMHeadModel.from_pretrained`."""
    c = model.config
    if c.positions != "learned":
        raise GenzooError("a gpt with rotary positions has no GPT-2 form (GPT-2 learns its positions); "
                          "train it with -O positions=learned")
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if key == "head.weight" and c.tie_weights:
            continue
        name, transposed = hf_name(key)
        tensors[name] = (value.t() if transposed else value).detach().cpu().contiguous()
    if not c.bias:  # a layer without a bias computes what one with a zero bias does
        for module_name, module in model.named_modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.LayerNorm)) and module_name != "head":
                name, _ = hf_name(f"{module_name}.weight")
                tensors[name[: -len("weight")] + "bias"] = torch.zeros(module.weight.shape[0])
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / WEIGHTS, lambda p: save_file(tensors, p, metadata={"format": "pt"}))
    atomic_write(directory / "config.json", lambda p: Path(p).write_text(json.dumps(hf_config(model), indent=2)))
    tokenizer = model.tokenizer
    if hasattr(tokenizer, "hf"):  # BPE and pretrained tokenizers are HF `tokenizers` objects
        atomic_write(directory / "tokenizer.json", lambda p: Path(p).write_text(tokenizer.hf.to_str()))
        atomic_write(directory / "tokenizer_config.json", lambda p: Path(p).write_text(
            json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c.context_length})))
    return directory
