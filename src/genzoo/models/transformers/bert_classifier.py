"""BERT fine-tuned for text classification (Devlin et al. 2019, section 4.1): the `bert` encoder with a
linear head on its first position (<bos>, BERT's [CLS]) or on the mean of its token vectors.

Train it as BERT is trained: masked-LM pretraining on the task's own text (a batch without `labels`),
then fine-tuning of encoder and head together on labelled examples (a batch with `labels`, dataset
`gettext_languages`). The vocabulary and the classes come from the dataset; `classify` returns class
probabilities, what `Classifier` promises and the accuracy metric reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.transformers.bert import BERTEncoder
from genzoo.protocols import Classifier
from genzoo.registry import register_model


@register_model("bert_classifier", "BERT fine-tuned for text classification (MLM pretraining, [CLS] head)")
class BERTClassifier(BERTEncoder, Classifier):
    """The bert encoder plus a class head; `loss` fine-tunes with labels and pretrains (MLM) without."""

    quick = Recipe(
        "gettext_languages",
        {"n_layer": 1, "d_model": 32, "n_head": 2},
        {"languages": "fr,es", "per_language": 20, "vocab_size": 300, "max_len": 32},
    )

    def __init__(self, config: Any, data_info: DataInfo | None = None) -> None:
        if config.num_labels < 2:
            raise GenzooError(f"bert_classifier needs at least 2 classes, got num_labels={config.num_labels}")
        if config.pooling not in ("cls", "mean"):
            raise GenzooError(f"pooling must be 'cls' or 'mean', got {config.pooling!r}")
        super().__init__(config, data_info)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if not info.classes:
            raise GenzooError(
                f"model 'bert_classifier' needs labelled text (e.g. gettext_languages); {info.name!r} has no classes"
            )
        return {**super().config_from_data(info), "num_labels": len(info.classes)}

    @property
    def num_classes(self) -> int:
        return int(self.config.num_labels)

    def class_logits(self, ids: Tensor) -> Tensor:
        """Logits from the first position's vector, or with `pooling="mean"` from the mean over the tokens:
        after a short masked-LM pretraining the first position has learnt little (MLM never asks it to
        predict anything), while every token's vector has."""
        assert self.classifier is not None  # num_labels >= 2, checked at construction
        hidden = self.encode(ids)
        if self.config.pooling == "cls":
            return self.classifier(hidden[:, 0])
        keep = (torch.as_tensor(ids, device=hidden.device) != self.config.pad_id).unsqueeze(-1).to(hidden.dtype)
        return self.classifier((hidden * keep).sum(1) / keep.sum(1).clamp_min(1))

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """Class probabilities (N, K) for token ids (N, T) padded with 0."""
        self.eval()
        return self.class_logits(x).float().softmax(-1)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        if isinstance(batch, dict) and "labels" in batch:
            logits = self.class_logits(batch["ids"]).float()
            labels = batch["labels"].to(self.device)
            return {"loss": F.cross_entropy(logits, labels), "accuracy": (logits.argmax(-1) == labels).float().mean()}
        return super().loss(batch)
