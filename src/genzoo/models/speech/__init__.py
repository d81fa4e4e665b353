"""Speech synthesis: `fastspeech` (characters -> log-mel, Griffin-Lim waveform). See docs/speech.md."""

from genzoo.models.speech.fastspeech import FastSpeech, FastSpeechConfig, TTSFeatures, monotonic_alignment

__all__ = ["FastSpeech", "FastSpeechConfig", "TTSFeatures", "monotonic_alignment"]
