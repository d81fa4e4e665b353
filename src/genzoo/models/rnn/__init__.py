"""Recurrent models: the DeepAR-style LSTM forecaster and LSTMs over music (events and piano-rolls)."""

from genzoo.models.rnn.lstm_forecaster import ForecastWindows, LSTMForecaster, LSTMForecasterConfig
from genzoo.models.rnn.music import MusicLSTM, MusicLSTMConfig, PianoRollLSTM, PianoRollLSTMConfig

__all__ = [
    "ForecastWindows",
    "LSTMForecaster",
    "LSTMForecasterConfig",
    "MusicLSTM",
    "MusicLSTMConfig",
    "PianoRollLSTM",
    "PianoRollLSTMConfig",
]
