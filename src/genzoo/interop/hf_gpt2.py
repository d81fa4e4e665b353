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

import re
from pathlib import Path
from typing import Any

from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.interop.hf_folder import (
    Rule,
    check_needs,
    fill,
    genzoo_tokenizer_entry,
    hf_tensors,
    read_config,
    read_tokenizer,
    read_weights,
    refuse_unsupported,
    write_folder,
)
from genzoo.models.transformers.gpt import GPT

#: the genzoo model this module converts into, and the transformers model_type it reads and writes
MODEL, MODEL_TYPE = GPT, "gpt2"
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


def rule_for(tied: bool) -> Any:
    """genzoo parameter name -> where GPT-2 keeps it (a tied head is the token embedding: no rule)."""

    def rule_of(key: str) -> Rule | None:
        if (key == "head.weight" and tied) or key == "head.bias":  # GPT-2's LM head has no bias
            return None
        if key in TOP_KEYS:
            return Rule((TOP_KEYS[key],))
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
        if m is None or m.group(2) not in BLOCK_KEYS:
            raise GenzooError(f"genzoo gpt parameter {key!r} has no GPT-2 counterpart")
        layer, part, kind = m.groups()
        return Rule((f"transformer.h.{layer}.{BLOCK_KEYS[part]}.{kind}",), part in CONV1D and kind == "weight")

    return rule_of


def options_from_hf(cfg: dict[str, Any]) -> dict[str, Any]:
    """genzoo `gpt` options computing what this GPT-2 config computes; refuses what genzoo's block lacks."""
    d = int(cfg.get("n_embd", 768))
    act = cfg.get("activation_function", "gelu_new")
    refuse_unsupported("GPT-2", "gpt", [
        (act not in ACTIVATIONS, f"activation_function {act!r} (genzoo has: {', '.join(ACTIVATIONS)})"),
        (cfg.get("n_inner") not in (None, 4 * d), f"n_inner {cfg.get('n_inner')} (genzoo's MLP is 4 x n_embd)"),
        (float(cfg.get("layer_norm_epsilon", 1e-5)) != 1e-5, "layer_norm_epsilon other than 1e-5"),
        (not cfg.get("scale_attn_weights", True), "scale_attn_weights=false"),
        (bool(cfg.get("scale_attn_by_inverse_layer_idx")), "scale_attn_by_inverse_layer_idx"),
        (bool(cfg.get("add_cross_attention")), "cross-attention"),
    ])
    return {
        "vocab_size": int(cfg.get("vocab_size", 50257)), "context_length": int(cfg.get("n_positions", 1024)),
        "n_layer": int(cfg.get("n_layer", 12)), "n_head": int(cfg.get("n_head", 12)), "d_model": d,
        "dropout": float(cfg.get("resid_pdrop", 0.0)), "positions": "learned", "bias": True,
        "activation": ACTIVATIONS[act], "tie_weights": bool(cfg.get("tie_word_embeddings", True)),
    }


def bpe_from_vocab_files(directory: Path) -> Any:
    """GPT-2's byte-level BPE from vocab.json + merges.txt (older folders have no tokenizer.json)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    if not ((directory / "vocab.json").is_file() and (directory / "merges.txt").is_file()):
        return None
    hf = Tokenizer(models.BPE.from_file(str(directory / "vocab.json"), str(directory / "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|endoftext|>"])
    return hf


def load(directory: Path, map_location: str = "cpu", needs: Any = None) -> GPT:
    """The genzoo `gpt` equal to the GPT-2 checkpoint in `directory`."""
    from genzoo.config import build_config

    check_needs("gpt", needs, str(directory))
    cfg = read_config(directory)
    tensors = read_weights(directory, map_location)
    options = {**options_from_hf(cfg),
               "tokenizer": read_tokenizer(directory, cfg, bpe_from_vocab_files, "vocab.json + merges.txt")}
    info = DataInfo(name=cfg.get("_name_or_path") or directory.name, kind="text",
                    extra={"vocab_size": options["vocab_size"], "source": "transformers gpt2"})
    model = GPT(build_config(GPT.Config, options, what="'gpt'"), info)
    # a GPT2Model (no LM head) saves its keys without the "transformer." prefix
    tensors = {k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}": v for k, v in tensors.items()}
    fill(model, tensors, rule_for(model.config.tie_weights), str(directory / "model.safetensors"))
    return model.to(map_location).eval()


def hf_config(model: GPT) -> dict[str, Any]:
    c = model.config
    activation = {"gelu_tanh": "gelu_new", "gelu": "gelu"}[c.activation]
    return {**genzoo_tokenizer_entry(model),
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
    tensors = hf_tensors(model, rule_for(c.tie_weights))
    return write_folder(directory, tensors, hf_config(model), model.tokenizer, c.context_length)
