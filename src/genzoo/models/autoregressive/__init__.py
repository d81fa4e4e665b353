"""Autoregressive models over raw signals: WaveNet (dilated causal convolutions, mu-law audio)."""

from genzoo.models.autoregressive.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode

__all__ = ["WaveNet", "WaveNetConfig", "mu_law_decode", "mu_law_encode"]
