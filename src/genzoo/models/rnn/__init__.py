"""Recurrent models: `char_rnn` (LSTM/GRU language model)."""

from genzoo.models.rnn.char_rnn import CharRNN, CharRNNConfig

__all__ = ["CharRNN", "CharRNNConfig"]
