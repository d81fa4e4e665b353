"""Transformer models: `gpt` (decoder-only), `bert` (encoder, MLM), `seq2seq` (encoder-decoder), `music_gpt`
(GPT over music event tokens) and `transformer_forecaster`.

No re-exports: import a model from its own module, `genzoo.models.transformers.<model>`.
"""
