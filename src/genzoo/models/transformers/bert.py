"""BERT (Devlin et al. 2019): a bidirectional encoder pretrained by masked-language modelling.

Pretraining takes the same token windows as `gpt` (dataset kind "text"): 15% of positions are chosen;
of those 80% become <mask>, 10% a random token, 10% stay, and the loss is the cross-entropy on the chosen
positions. Fine-tuning heads read the same encoder: `classify` (from the first position, a <bos> "CLS")
and `span_logits` (start/end scores per position, for extractive question answering). A batch dict with
`labels` or `start`/`end` trains those heads instead of MLM; `answer(question, context)` reads a span
out (dataset `stdlib_qa` or `squad`; pretrain on the same items with objective="mlm", then fine-tune).

By default the encoder is genzoo's pre-norm block stack without biases (it trains stably without warm-up).
The options `post_norm`, `embed_norm`, `type_vocab_size`, `bias`, `norm_eps`, `activation` and
`mlm_transform` make it the original BERT exactly, which is what a `transformers` BERT checkpoint converts into
(`genzoo.interop.hf_bert`); `pad_id` and `mask_id` are then that tokenizer's [PAD] and [MASK].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import MASK, N_SPECIAL, PAD, Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError
from genzoo.models.transformers.layers import ACTIVATIONS, Block, init_weights
from genzoo.protocols import QuestionAnswerer
from genzoo.registry import register_model


@dataclass
class BERTConfig:
    vocab_size: int = N_SPECIAL + 256
    max_len: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.1
    mask_prob: float = 0.15
    num_labels: int = 0
    pooling: str = "cls"  # classifier input: "cls" (the first position, BERT's) or "mean" (of the non-padding)
    tokenizer: str = ""
    post_norm: bool = False  # BERT's post-norm blocks (then no final LayerNorm)
    embed_norm: bool = False  # LayerNorm over the summed embeddings (BERT's)
    type_vocab_size: int = 0  # segment ("token type") embeddings; 0: none
    bias: bool = False  # biases in every Linear and LayerNorm (BERT has them)
    norm_eps: float = field(default=1e-5, metadata={"min": 1e-30, "max": 1e-1})
    activation: str = "gelu"  # gelu | gelu_tanh
    mlm_transform: bool = False  # BERT's MLM head: dense + activation + LayerNorm, then the tied decoder + bias
    pad_id: int = PAD  # the id never attended to
    mask_id: int = MASK  # the id `fill_mask` and the MLM corruption write


class BERTEncoder(GenerativeModel):
    """Transformer encoder with an MLM head (tied), an optional classifier and a span head: what `bert`
    (extractive QA) and `bert_classifier` share; each model declares only the capability it serves."""

    Config = BERTConfig
    default_lr = 1e-3

    def __init__(self, config: BERTConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        if not 0 < c.mask_prob < 1:
            raise GenzooError(f"mask_prob must be in (0, 1), got {c.mask_prob}")
        if c.activation not in ACTIVATIONS:
            raise GenzooError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {c.activation!r}")
        for name in ("pad_id", "mask_id"):
            if not 0 <= getattr(c, name) < c.vocab_size:
                raise GenzooError(f"{name} {getattr(c, name)} is outside the vocabulary (0..{c.vocab_size - 1})")
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.type_emb = nn.Embedding(c.type_vocab_size, c.d_model) if c.type_vocab_size else None
        self.emb_norm = nn.LayerNorm(c.d_model, eps=c.norm_eps, bias=c.bias) if c.embed_norm else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.d_model, c.n_head, c.dropout, c.bias, activation=c.activation, post_norm=c.post_norm,
                  eps=c.norm_eps)
            for _ in range(c.n_layer)
        )
        # post-norm blocks end normalised; pre-norm ones need the final LayerNorm
        self.ln_f = None if c.post_norm else nn.LayerNorm(c.d_model, eps=c.norm_eps, bias=c.bias)
        self.mlm_dense = nn.Linear(c.d_model, c.d_model) if c.mlm_transform else None
        self.mlm_norm = nn.LayerNorm(c.d_model, eps=c.norm_eps) if c.mlm_transform else None
        self.mlm_head = nn.Linear(c.d_model, c.vocab_size, bias=c.mlm_transform)
        self.classifier = nn.Linear(c.d_model, c.num_labels) if c.num_labels else None
        self.span = nn.Linear(c.d_model, 2)
        init_weights(self, c.n_layer)
        self.mlm_head.weight = self.tok_emb.weight

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "text" or "vocab_size" not in info.extra:
            raise GenzooError(f"model 'bert' needs text data (e.g. pydoc); {info.name!r} is {info.kind}")
        out = {"vocab_size": int(info.extra["vocab_size"]), "tokenizer": info.extra.get("tokenizer", "")}
        if "block_size" in info.extra:
            out["max_len"] = int(info.extra["block_size"]) + 1
        elif "max_len" in info.extra:  # question answering: <bos> question <sep> context windows
            out["max_len"] = int(info.extra["max_len"])
        return out

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        return tokenizer_from_json(self.config.tokenizer)

    def encode(self, ids: Tensor, token_types: Tensor | None = None, **_: Any) -> Tensor:
        """Contextual vectors (B, T, D) for token ids (B, T); padding (`pad_id`) is not attended to.
        `token_types` (B, T): segment ids where the model has them (default: all segment 0)."""
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        if ids.shape[1] > self.config.max_len:
            raise GenzooError(f"{ids.shape[1]} tokens exceed BERT's max_len {self.config.max_len}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1], device=ids.device))
        if self.type_emb is not None:
            types = torch.zeros_like(ids) if token_types is None else torch.as_tensor(token_types, device=ids.device)
            x = x + self.type_emb(types.long())
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        x = self.drop(x)
        mask = ids != self.config.pad_id
        for block in self.blocks:
            x = block(x, key_mask=mask)
        return x if self.ln_f is None else self.ln_f(x)

    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """Vocabulary logits (B, T, V) from the encoder's vectors: the tied decoder, after BERT's transform
        (dense, activation, LayerNorm) where the model has it."""
        if self.mlm_dense is not None and self.mlm_norm is not None:
            approximate = "tanh" if self.config.activation == "gelu_tanh" else "none"
            hidden = self.mlm_norm(F.gelu(self.mlm_dense(hidden), approximate=approximate))
        return self.mlm_head(hidden)

    def mask_tokens(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """BERT's corruption: returns (corrupted ids, targets with -100 where no loss is taken)."""
        chosen = (torch.rand(ids.shape, device=ids.device) < self.config.mask_prob) & (ids >= N_SPECIAL)
        chosen &= ids != self.config.pad_id
        targets = torch.where(chosen, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape, device=ids.device)
        random_ids = torch.randint(N_SPECIAL, self.config.vocab_size, ids.shape, device=ids.device)
        corrupted = torch.where(chosen & (roll < 0.8), torch.full_like(ids, self.config.mask_id), ids)
        corrupted = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, corrupted)
        return corrupted, targets

    def classify(self, ids: Tensor) -> Tensor:
        if self.classifier is None:
            raise GenzooError("this BERT has no classifier: build it with num_labels=K")
        return self.classifier(self.encode(ids)[:, 0])

    def span_logits(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Start and end scores per position (B, T) each; padding gets -inf."""
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        start, end = self.span(self.encode(ids)).unbind(-1)
        pad = ids == self.config.pad_id
        return start.masked_fill(pad, float("-inf")), end.masked_fill(pad, float("-inf"))

    def loss(self, batch: Any) -> dict[str, Tensor]:
        if isinstance(batch, dict) and "labels" in batch:
            logits = self.classify(batch["ids"])
            loss = F.cross_entropy(logits.float(), batch["labels"].to(self.device))
            return {
                "loss": loss,
                "accuracy": (logits.argmax(-1) == batch["labels"].to(self.device)).float().mean(),
            }
        if isinstance(batch, dict) and "start" in batch:
            start, end = self.span_logits(batch["ids"])
            loss = (
                F.cross_entropy(start.float(), batch["start"].to(self.device))
                + F.cross_entropy(end.float(), batch["end"].to(self.device))
            ) / 2
            return {"loss": loss}
        ids = (batch["ids"] if isinstance(batch, dict) else batch).to(self.device)
        corrupted, targets = self.mask_tokens(ids)
        logits = self.mlm_logits(self.encode(corrupted)).float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return {"loss": loss, "mlm_nats": loss.detach()}

    @torch.no_grad()
    def fill_mask(self, text: str) -> str:
        """Replace every '<mask>' in `text` by the encoder's most likely token (a quick qualitative check)."""
        parts = text.split("<mask>")
        if len(parts) == 1:
            raise GenzooError("the text has no <mask> to fill")
        ids: list[int] = []
        for i, part in enumerate(parts):
            ids += self.tokenizer.encode(part)
            if i < len(parts) - 1:
                ids.append(self.config.mask_id)
        x = torch.tensor([ids[: self.config.max_len]])
        best = self.mlm_logits(self.encode(x)).argmax(-1)[0]
        filled = [int(best[i]) if t == self.config.mask_id else t for i, t in enumerate(x[0].tolist())]
        return self.tokenizer.decode(filled)


@register_model("bert", "bidirectional encoder: masked-LM pretraining, classification and span-extraction heads")
class BERT(BERTEncoder, QuestionAnswerer):
    """The encoder with its span head answering questions (pretrain with MLM, fine-tune on spans)."""

    quick = Recipe("stdlib_qa", {"n_layer": 1, "d_model": 32, "n_head": 2}, {"max_len": 96})

    def answer(self, question: str, context: str, max_answer_tokens: int = 30) -> str:
        """The span of `context` that answers `question` (see `genzoo.models.transformers.qa`)."""
        from genzoo.models.transformers.qa import answer

        return answer(self, question, context, max_answer_tokens)[0]
