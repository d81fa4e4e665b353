"""Gated PixelCNN (van den Oord et al. 2016): vertical and horizontal stacks, no blind spot."""

from __future__ import annotations

from torch import Tensor, nn

from genzoo.base import Recipe
from genzoo.models.autoregressive.pixelcnn import GatedLayer, PixelModel
from genzoo.registry import register_model


@register_model(
    "gated_pixelcnn", "Gated PixelCNN: vertical+horizontal stacks (no blind spot), class-conditional option"
)
class GatedPixelCNN(PixelModel):
    """Gated PixelCNN: gated tanh*sigmoid units, vertical and horizontal stacks, optional class label."""

    quick = Recipe("digits", {"channels": 8, "num_layers": 2})
    #: 10 layers of kernel 5 see 20 rows up: a whole digit, so samples are digits rather than strokes (5 layers
    #: scored 1.21 bits/dim and drew strokes); 1.107 bits/dim on mnist5k in 25 min (benchmarks/pixelcnn.py)
    image_defaults = {"channels": 32, "num_layers": 10, "kernel": 5}

    def build(self, cin: int, channels: int, cout: int, cond_dim: int) -> None:
        k = self.config.kernel
        self.layers = nn.ModuleList(
            [
                GatedLayer(cin if i == 0 else channels, channels, k, i == 0, cond_dim, self.config.dropout)
                for i in range(self.config.num_layers)
            ]
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, cout, 1))

    def network(self, x: Tensor, cond: Tensor | None) -> Tensor:
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self.head(h)
