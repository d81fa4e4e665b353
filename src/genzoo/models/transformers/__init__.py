"""Transformer language models: `gpt` (decoder-only), `bert` (encoder, MLM), `seq2seq` (encoder-decoder)."""

from genzoo.models.transformers.bert import BERT, BERTConfig
from genzoo.models.transformers.gpt import GPT, GPTConfig
from genzoo.models.transformers.seq2seq import Seq2Seq, Seq2SeqConfig

__all__ = ["BERT", "GPT", "BERTConfig", "GPTConfig", "Seq2Seq", "Seq2SeqConfig"]
