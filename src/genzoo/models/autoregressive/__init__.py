"""Autoregressive density models: `made`, `pixelcnn`, `gated_pixelcnn` — exact log-likelihood."""

from genzoo.models.autoregressive.made import MADE, MADEConfig, MADENet
from genzoo.models.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN, PixelCNNConfig

__all__ = ["MADE", "GatedPixelCNN", "MADEConfig", "MADENet", "PixelCNN", "PixelCNNConfig"]
