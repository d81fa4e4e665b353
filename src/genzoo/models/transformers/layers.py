"""Transformer building blocks shared by gpt, bert, seq2seq and the text encoders: blocks, MLP, init.

Blocks are pre-norm (GPT-2 and every genzoo model trained here: stable without warm-up) or, with `post_norm`,
BERT's original post-norm order, so that a converted BERT checkpoint computes the same function.

Attention and rotary positions are the shared ones of `genzoo.nn.attention` (one attention, on
`F.scaled_dot_product_attention`, with the KV cache of `genzoo.nn.kv_cache`); they are re-exported here.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.nn.attention import Attention, Rotary
from genzoo.nn.kv_cache import KVCache
from genzoo.nn.linear import Linear

__all__ = ["ACTIVATIONS", "MLP", "Attention", "Block", "Rotary", "init_weights"]


#: the MLP activations: "gelu" is the exact (erf) GELU; "gelu_tanh" its tanh approximation, which GPT-2 uses
#: (its "gelu_new"), so a GPT-2 checkpoint computes the same logits here
ACTIVATIONS = ("gelu", "gelu_tanh")


class MLP(nn.Module):
    def __init__(self, d_model: int, ratio: int = 4, dropout: float = 0.0, bias: bool = False,
                 activation: str = "gelu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.approximate = "tanh" if activation == "gelu_tanh" else "none"
        self.up = Linear(d_model, ratio * d_model, bias=bias)
        self.down = Linear(ratio * d_model, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.down(F.gelu(self.up(x), approximate=self.approximate)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)) [+ cross(ln(x), memory)] + mlp(ln(x)).

    `post_norm` (Vaswani et al. and BERT): ln1(x + attn(x)), then ln2(x + mlp(x)); no cross-attention.
    `eps` is the LayerNorms' epsilon (BERT's is 1e-12; with unit-scale activations it changes the last digits).
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = False,
        rotary: Rotary | None = None,
        cross: bool = False,
        activation: str = "gelu",
        post_norm: bool = False,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if post_norm and cross:
            raise ValueError("post-norm blocks have no cross-attention here")
        self.post_norm = post_norm
        self.ln1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.attn = Attention(d_model, n_head, dropout, bias, rotary)
        self.ln_cross = nn.LayerNorm(d_model, eps=eps, bias=bias) if cross else None
        self.cross = Attention(d_model, n_head, dropout, bias, cross=True) if cross else None
        self.ln2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.mlp = MLP(d_model, 4, dropout, bias, activation)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        key_mask: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        if self.post_norm:
            x = self.ln1(x + self.drop(self.attn(x, causal=causal, key_mask=key_mask, cache=cache, layer=layer)))
            return self.ln2(x + self.mlp(x))
        x = x + self.drop(self.attn(self.ln1(x), causal=causal, key_mask=key_mask, cache=cache, layer=layer))
        if self.cross is not None and self.ln_cross is not None:
            x = x + self.drop(self.cross(self.ln_cross(x), key_mask=memory_mask, memory=memory))
        return x + self.mlp(self.ln2(x))


def init_weights(module: nn.Module, n_layer: int) -> None:
    """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            std = 0.02 / (2 * n_layer) ** 0.5 if name.endswith(("proj.weight", "down.weight")) else 0.02
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
