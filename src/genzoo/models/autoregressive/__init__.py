"""Autoregressive models: `made`, `pixelcnn`, `gated_pixelcnn` (exact log-likelihood) and `wavenet` (audio)."""

from genzoo.models.autoregressive.made import MADE, MADEConfig, MADENet
from genzoo.models.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN, PixelCNNConfig
from genzoo.models.autoregressive.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode

__all__ = ["MADE", "GatedPixelCNN", "MADEConfig", "MADENet", "PixelCNN", "PixelCNNConfig", "WaveNet",
           "WaveNetConfig", "mu_law_decode", "mu_law_encode"]
