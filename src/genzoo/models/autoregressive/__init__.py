"""Autoregressive models: `made`, `pixelcnn`, `gated_pixelcnn` (exact log-likelihood) and `wavenet` (audio).

No re-exports: import a model from its own module, `genzoo.models.autoregressive.<model>`.
"""
