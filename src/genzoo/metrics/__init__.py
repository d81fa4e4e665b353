"""Metrics, by name: `evaluate(model, data, metrics)` computes any named subset, or the model's defaults.

The registry (`registry.py`) says what each metric needs; the catalog (`catalog.py`) lists them; the other
modules hold the arithmetic (FID/KID/precision-recall, likelihood, text, forecast, speech, video, music, ...).
"""

# the catalog's decorators fill the registry; importing it here (not from the registry) keeps the registry
# free of an import back up to the metrics it lists
import genzoo.metrics.catalog  # noqa: F401
from genzoo.metrics.registry import all_metrics, default_metrics, evaluate, get_metric, register_metric

__all__ = ["all_metrics", "default_metrics", "evaluate", "get_metric", "register_metric"]
