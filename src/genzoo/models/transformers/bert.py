"""BERT (Devlin et al. 2019): a bidirectional encoder pretrained by masked-language modelling.

Pretraining takes the same token windows as `gpt` (dataset kind "text"): 15% of positions are chosen;
of those 80% become <mask>, 10% a random token, 10% stay, and the loss is the cross-entropy on the chosen
positions. Fine-tuning heads read the same encoder: `classify` (from the first position, a <bos> "CLS")
and `span_logits` (start/end scores per position, for extractive question answering). A batch dict with
`labels` or `start`/`end` trains those heads instead of MLM; `answer(question, context)` reads a span
out (dataset `stdlib_qa` or `squad`; pretrain on the same items with objective="mlm", then fine-tune).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import MASK, N_SPECIAL, PAD, Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError
from genzoo.models.transformers.layers import Block, init_weights
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
    tokenizer: str = ""


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
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.dropout) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model, bias=False)
        self.mlm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
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

    def encode(self, ids: Tensor, **_: Any) -> Tensor:
        """Contextual vectors (B, T, D) for token ids (B, T); padding (id 0) is not attended to."""
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        if ids.shape[1] > self.config.max_len:
            raise GenzooError(f"{ids.shape[1]} tokens exceed BERT's max_len {self.config.max_len}")
        x = self.drop(self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1], device=ids.device)))
        mask = ids != PAD
        for block in self.blocks:
            x = block(x, key_mask=mask)
        return self.ln_f(x)

    def mask_tokens(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """BERT's corruption: returns (corrupted ids, targets with -100 where no loss is taken)."""
        chosen = (torch.rand(ids.shape, device=ids.device) < self.config.mask_prob) & (ids >= N_SPECIAL)
        targets = torch.where(chosen, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape, device=ids.device)
        random_ids = torch.randint(N_SPECIAL, self.config.vocab_size, ids.shape, device=ids.device)
        corrupted = torch.where(chosen & (roll < 0.8), torch.full_like(ids, MASK), ids)
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
        pad = ids == PAD
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
        logits = self.mlm_head(self.encode(corrupted)).float()
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
                ids.append(MASK)
        x = torch.tensor([ids[: self.config.max_len]])
        best = self.mlm_head(self.encode(x)).argmax(-1)[0]
        filled = [int(best[i]) if t == MASK else t for i, t in enumerate(x[0].tolist())]
        return self.tokenizer.decode(filled)


@register_model("bert", "bidirectional encoder: masked-LM pretraining, classification and span-extraction heads")
class BERT(BERTEncoder, QuestionAnswerer):
    """The encoder with its span head answering questions (pretrain with MLM, fine-tune on spans)."""

    quick = Recipe("stdlib_qa", {"n_layer": 1, "d_model": 32, "n_head": 2}, {"max_len": 96})

    def answer(self, question: str, context: str, max_answer_tokens: int = 30) -> str:
        """The span of `context` that answers `question` (see `genzoo.models.transformers.qa`)."""
        from genzoo.models.transformers.qa import answer

        return answer(self, question, context, max_answer_tokens)[0]
