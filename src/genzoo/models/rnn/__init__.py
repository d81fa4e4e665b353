"""Recurrent models: `char_rnn` (LSTM/GRU language model), the DeepAR-style forecaster, LSTMs over music."""

from genzoo.models.rnn.char_rnn import CharRNN, CharRNNConfig
from genzoo.models.rnn.lstm_forecaster import ForecastWindows, LSTMForecaster, LSTMForecasterConfig
from genzoo.models.rnn.music import MusicLSTM, MusicLSTMConfig, PianoRollLSTM, PianoRollLSTMConfig

__all__ = ["CharRNN", "CharRNNConfig", "ForecastWindows", "LSTMForecaster", "LSTMForecasterConfig", "MusicLSTM",
           "MusicLSTMConfig", "PianoRollLSTM", "PianoRollLSTMConfig"]
