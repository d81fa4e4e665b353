"""Speech synthesis: `fastspeech` (characters -> log-mel, Griffin-Lim waveform). See docs/speech.md.

No re-exports: import a model from its own module, `genzoo.models.speech.<model>`.
"""
