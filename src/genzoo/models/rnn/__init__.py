"""Recurrent models: `char_rnn` (LSTM/GRU language model), the DeepAR-style forecasters (LSTM and a small
causal transformer sharing its heads), LSTMs over music."""

from genzoo.models.rnn.char_rnn import CharRNN, CharRNNConfig
from genzoo.models.rnn.lstm_forecaster import ForecastWindows, LSTMForecaster, LSTMForecasterConfig
from genzoo.models.rnn.music import MusicLSTM, MusicLSTMConfig, PianoRollLSTM, PianoRollLSTMConfig
from genzoo.models.rnn.transformer_forecaster import TransformerForecaster, TransformerForecasterConfig

__all__ = ["CharRNN", "CharRNNConfig", "ForecastWindows", "LSTMForecaster", "LSTMForecasterConfig", "MusicLSTM",
           "MusicLSTMConfig", "PianoRollLSTM", "PianoRollLSTMConfig", "TransformerForecaster",
           "TransformerForecasterConfig"]
