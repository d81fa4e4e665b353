"""BERT (`transformers`' `BertModel` / `BertForMaskedLM`) <-> genzoo's `bert`, exactly.

genzoo's `bert` built with `post_norm`, `embed_norm`, `type_vocab_size`, `bias`, `norm_eps` 1e-12 and (for
the masked-LM head) `mlm_transform` is BERT: summed word + position + segment embeddings under a LayerNorm,
post-norm blocks, the MLM transform (dense, GELU, LayerNorm) before the tied decoder with its own bias. The
storage differences: BERT keeps separate query/key/value projections, which are the rows of genzoo's fused
`qkv` in that order, and its names. A `BertModel` folder (no MLM head) keeps genzoo's plain tied head; its
pooler is dropped (genzoo's classifier and span heads read the first position directly, and start fresh).
The WordPiece tokenizer (tokenizer.json, or vocab.txt) comes along, with [PAD] and [MASK] as `pad_id` and
`mask_id`.

Writing back: a genzoo `bert` with post-norm blocks and an embedding LayerNorm has a BERT form (missing biases
are zeros, missing segment embeddings one zero row); genzoo's default pre-norm encoder does not, and is refused.
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
from genzoo.models.transformers.bert import BERT

#: the genzoo model this module converts into, and the transformers model_type it reads and writes
MODEL, MODEL_TYPE = BERT, "bert"
#: BERT's hidden_act values -> genzoo's `activation`
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
#: genzoo block part -> BERT names in `bert.encoder.layer.{i}.` (several: stacked rows of the fused tensor)
BLOCK_KEYS = {
    "attn.qkv": ("attention.self.query", "attention.self.key", "attention.self.value"),
    "attn.proj": ("attention.output.dense",),
    "ln1": ("attention.output.LayerNorm",),
    "mlp.up": ("intermediate.dense",),
    "mlp.down": ("output.dense",),
    "ln2": ("output.LayerNorm",),
}
TOP_KEYS = {
    "tok_emb.weight": "bert.embeddings.word_embeddings.weight",
    "pos_emb.weight": "bert.embeddings.position_embeddings.weight",
    "type_emb.weight": "bert.embeddings.token_type_embeddings.weight",
    "emb_norm.weight": "bert.embeddings.LayerNorm.weight",
    "emb_norm.bias": "bert.embeddings.LayerNorm.bias",
    "mlm_dense.weight": "cls.predictions.transform.dense.weight",
    "mlm_dense.bias": "cls.predictions.transform.dense.bias",
    "mlm_norm.weight": "cls.predictions.transform.LayerNorm.weight",
    "mlm_norm.bias": "cls.predictions.transform.LayerNorm.bias",
    "mlm_head.bias": "cls.predictions.bias",
}
#: genzoo heads a transformers BERT has no counterpart of: they keep their fresh initialisation
GENZOO_HEADS = ("span.", "classifier.")


def rule_of(key: str) -> Rule | None:
    """genzoo parameter name -> where BERT keeps it (the tied decoder and genzoo's own heads: no rule)."""
    if key == "mlm_head.weight" or key.startswith(GENZOO_HEADS):
        return None
    if key in TOP_KEYS:
        return Rule((TOP_KEYS[key],))
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
    if m is None or m.group(2) not in BLOCK_KEYS:
        raise GenzooError(f"genzoo bert parameter {key!r} has no BERT counterpart")
    layer, part, kind = m.groups()
    return Rule(tuple(f"bert.encoder.layer.{layer}.{name}.{kind}" for name in BLOCK_KEYS[part]))


def options_from_hf(cfg: dict[str, Any], has_mlm_head: bool) -> dict[str, Any]:
    """genzoo `bert` options computing what this BERT config computes; refuses what genzoo's encoder lacks."""
    d = int(cfg.get("hidden_size", 768))
    act = cfg.get("hidden_act", "gelu")
    refuse_unsupported(
        "BERT",
        "bert",
        [
            (act not in ACTIVATIONS, f"hidden_act {act!r} (genzoo has: {', '.join(ACTIVATIONS)})"),
            (
                int(cfg.get("intermediate_size", 4 * d)) != 4 * d,
                f"intermediate_size {cfg.get('intermediate_size')} (genzoo's MLP is 4 x hidden_size)",
            ),
            (
                cfg.get("position_embedding_type", "absolute") != "absolute",
                f"position_embedding_type {cfg.get('position_embedding_type')!r}",
            ),
            (bool(cfg.get("is_decoder")) or bool(cfg.get("add_cross_attention")), "decoder / cross-attention"),
            (not cfg.get("tie_word_embeddings", True) and has_mlm_head, "an MLM decoder not tied to the embeddings"),
        ],
    )
    return {
        "vocab_size": int(cfg.get("vocab_size", 30522)),
        "max_len": int(cfg.get("max_position_embeddings", 512)),
        "n_layer": int(cfg.get("num_hidden_layers", 12)),
        "n_head": int(cfg.get("num_attention_heads", 12)),
        "d_model": d,
        "dropout": float(cfg.get("hidden_dropout_prob", 0.1)),
        "post_norm": True,
        "embed_norm": True,
        "type_vocab_size": int(cfg.get("type_vocab_size", 2)),
        "bias": True,
        "norm_eps": float(cfg.get("layer_norm_eps", 1e-12)),
        "activation": ACTIVATIONS[act],
        "mlm_transform": has_mlm_head,
        "pad_id": int(cfg.get("pad_token_id") or 0),
    }


def wordpiece_from_vocab_files(directory: Path) -> Any:
    """BERT's WordPiece from vocab.txt (older folders have no tokenizer.json), lower-casing as BERT does
    unless tokenizer_config.json says otherwise."""
    import json

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    if not (directory / "vocab.txt").is_file():
        return None
    settings = directory / "tokenizer_config.json"
    lower = json.loads(settings.read_text()).get("do_lower_case", True) if settings.is_file() else True
    hf = Tokenizer(models.WordPiece.from_file(str(directory / "vocab.txt"), unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=bool(lower))
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.decoder = decoders.WordPiece()
    return hf


def mask_id_of(tokenizer_json: str, vocab_size: int) -> int | None:
    """The id of the tokenizer's [MASK] (what `fill_mask` writes); None for a tokenizer without one."""
    from genzoo.data.tokenizers import tokenizer_from_json

    tokenizer = tokenizer_from_json(tokenizer_json)
    hf = getattr(tokenizer, "hf", None)
    found = hf.token_to_id("[MASK]") if hf is not None else None
    return int(found) if found is not None and 0 <= found < vocab_size else None


def load(directory: Path, map_location: str = "cpu", needs: Any = None) -> BERT:
    """The genzoo `bert` equal to the BERT checkpoint in `directory`."""
    from genzoo.config import build_config

    check_needs("bert", needs, str(directory))
    cfg = read_config(directory)
    tensors = read_weights(directory, map_location)
    # a BertModel (no head) saves its keys without the "bert." prefix
    tensors = {k if k.startswith(("bert.", "cls.")) else f"bert.{k}": v for k, v in tensors.items()}
    options = options_from_hf(cfg, has_mlm_head="cls.predictions.transform.dense.weight" in tensors)
    options["tokenizer"] = read_tokenizer(directory, cfg, wordpiece_from_vocab_files, "vocab.txt")
    mask = mask_id_of(options["tokenizer"], options["vocab_size"])
    if mask is not None:
        options["mask_id"] = mask
    info = DataInfo(
        name=cfg.get("_name_or_path") or directory.name,
        kind="text",
        extra={"vocab_size": options["vocab_size"], "source": "transformers bert"},
    )
    model = BERT(build_config(BERT.Config, options, what="'bert'"), info)
    fill(model, tensors, rule_of, str(directory / "model.safetensors"))
    return model.to(map_location).eval()


def hf_config(model: BERT) -> dict[str, Any]:
    c = model.config
    return {
        **genzoo_tokenizer_entry(model),
        "model_type": "bert",
        "architectures": ["BertForMaskedLM" if c.mlm_transform else "BertModel"],
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "num_hidden_layers": c.n_layer,
        "num_attention_heads": c.n_head,
        "intermediate_size": 4 * c.d_model,
        "hidden_act": {"gelu": "gelu", "gelu_tanh": "gelu_new"}[c.activation],
        "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.dropout,
        "max_position_embeddings": c.max_len,
        "type_vocab_size": max(c.type_vocab_size, 1),
        "layer_norm_eps": c.norm_eps,
        "pad_token_id": c.pad_id,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
    }


def save(model: BERT, directory: Path) -> Path:
    """Write `model` as a BERT folder `transformers` loads (`BertForMaskedLM` where it has BERT's MLM head,
    else `BertModel`)."""
    import torch

    c = model.config
    if not (c.post_norm and c.embed_norm):
        raise GenzooError(
            "a bert with genzoo's pre-norm blocks has no BERT form (BERT is post-norm, with a "
            "LayerNorm over its embeddings): build it with -O post_norm=true -O embed_norm=true"
        )
    tensors = hf_tensors(model, rule_of)
    if not c.mlm_transform:  # a BertModel: its keys carry no "bert." prefix, and it has no MLM head
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items() if not k.startswith("cls.")}
    prefix = "bert." if c.mlm_transform else ""
    if model.type_emb is None:  # one segment whose embedding is zero: the same sums
        tensors[f"{prefix}embeddings.token_type_embeddings.weight"] = torch.zeros(1, c.d_model)
    hf = getattr(model.tokenizer, "hf", None)
    specials = {
        name: token
        for name, token in (
            ("mask_token", "[MASK]"),
            ("pad_token", "[PAD]"),
            ("cls_token", "[CLS]"),
            ("sep_token", "[SEP]"),
            ("unk_token", "[UNK]"),
        )
        if hf is not None and hf.token_to_id(token) is not None
    }
    return write_folder(directory, tensors, hf_config(model), model.tokenizer, c.max_len, specials)
