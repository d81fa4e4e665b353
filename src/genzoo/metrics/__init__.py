"""Metrics, by name: `evaluate(model, data, metrics)` computes any named subset, or the model's defaults.

The registry (`registry.py`) says what each metric needs; the catalog (`catalog.py`) lists them; the other
modules hold the arithmetic (FID/KID/precision-recall, likelihood, text, forecast, speech, video, music, ...).
"""

from genzoo.metrics.registry import all_metrics, default_metrics, evaluate, get_metric, register_metric

__all__ = ["all_metrics", "default_metrics", "evaluate", "get_metric", "register_metric"]
