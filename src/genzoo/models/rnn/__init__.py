"""Recurrent models: `char_rnn` (LSTM/GRU language model), `lstm_forecaster` (DeepAR-style), `music_lstm` and
`pianoroll_lstm`.

No re-exports: import a model from its own module, `genzoo.models.rnn.<model>`.
"""
