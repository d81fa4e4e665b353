"""Transformer language models: `gpt` (decoder-only), `bert` (encoder, MLM), `seq2seq` (encoder-decoder),
and `music_gpt` (GPT over music event tokens)."""

from genzoo.models.transformers.bert import BERT, BERTConfig
from genzoo.models.transformers.gpt import GPT, GPTConfig
from genzoo.models.transformers.music_gpt import MusicGPT, MusicGPTConfig
from genzoo.models.transformers.seq2seq import Seq2Seq, Seq2SeqConfig

__all__ = ["BERT", "GPT", "BERTConfig", "GPTConfig", "MusicGPT", "MusicGPTConfig", "Seq2Seq", "Seq2SeqConfig"]
