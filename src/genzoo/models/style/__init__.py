"""Neural style transfer: Gatys optimisation, fast feed-forward networks, and temporally consistent video."""

from genzoo.models.style.fast_style import FastStyle, FastStyleConfig, TransformerNet, train_fast_style
from genzoo.models.style.features import build_features, load_vgg
from genzoo.models.style.gatys import GatysConfig, StyleResult, gatys_transfer

__all__ = [
    "FastStyle",
    "FastStyleConfig",
    "GatysConfig",
    "StyleResult",
    "TransformerNet",
    "build_features",
    "gatys_transfer",
    "load_vgg",
    "train_fast_style",
]
