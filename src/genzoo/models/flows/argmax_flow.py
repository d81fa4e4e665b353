"""Argmax flow over characters (Hoogeboom et al. 2021, "Argmax Flows and Multinomial Diffusion").

Each character code x_t in {0..V-1} is written in B = ceil(log2 V) bits, the binary form of an argmax
flow (the paper's factorisation for large vocabularies): bit b is the argmax of two classes, i.e. the sign
of a continuous v_b. A learned dequantiser q(v | x) draws u ~ N(mu_x, sigma_x) and sets
v_b = s_b * softplus(u_b) with s_b = +1 for a 1-bit and -1 for a 0-bit, so sign(v) always spells x.
A conditional flow over R^B (actnorm, LU mixing, affine couplings from `layers`, conditioned on a GRU
summary h_t of x_<t) onto a Gaussian base whose mean and scale are read off h_t (an autoregressive prior: the
flow only has to shape what the context leaves open) gives the density p(v_t | x_<t). The dequantiser sees
h_t too (q(v | x_t, h_t): any observed variable may condition q, and the bound's gap, KL(q || p(v | x_t,
x_<t)), shrinks when q knows where p put its mass). Then
log P(x_t | x_<t) >= E_q[log p(v_t | x_<t) - log q(v_t | x_t)], a bound that importance sampling with
k draws tightens; `log_prob` returns it in nats per sequence. Sampling draws v_t from the flow and reads
the code off its signs (codes >= V, which the model learns to avoid, are redrawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.flows.flow import Chain
from genzoo.models.flows.layers import ActNorm, FlowLayer, InvertibleLinearLU, VectorCoupling
from genzoo.protocols import Likelihood, Sampler
from genzoo.registry import register_model

LOG_2PI = math.log(2 * math.pi)


@dataclass
class ArgmaxFlowConfig:
    vocab_size: int = 103
    seq_len: int = 64
    embed: int = 64
    context: int = 128  # GRU width: the summary of x_<t that conditions the flow
    num_layers: int = 4  # coupling steps of the flow over R^V
    hidden: tuple[int, ...] = (128,)


@register_model("argmax_flow", "argmax flow over characters: dequantised categorical + GRU-conditioned coupling flow")
class ArgmaxFlow(GenerativeModel, Sampler, Likelihood):
    """Character model whose per-step distribution is a normalizing flow over argmax-dequantised codes."""

    quick = Recipe("pydoc_chars", {"context": 32, "embed": 16, "num_layers": 2, "hidden": [32]})

    Config = ArgmaxFlowConfig
    default_lr = 2e-3
    default_precision = "32-true"

    def __init__(self, config: ArgmaxFlowConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        v, h = config.vocab_size, config.context
        if v < 2:
            raise GenzooError(f"vocab_size must be at least 2, got {v}")
        self.bits = bits = max(2, math.ceil(math.log2(v)))
        self.embed = nn.Embedding(v + 1, config.embed)  # code v = start of sequence
        self.rnn = nn.GRU(config.embed, h, batch_first=True)
        layers: list[FlowLayer] = []
        for i in range(config.num_layers):
            layers += [
                ActNorm(bits),
                InvertibleLinearLU(bits, seed=i),
                VectorCoupling(bits, tuple(config.hidden), "affine", flip=i % 2 == 1, context_dim=h),
            ]
        self.flow = Chain(layers)
        self.base = nn.Linear(h, 2 * bits)  # mean and log-scale of the base Gaussian given h_t
        self.q_mu = nn.Embedding(v, bits)
        self.q_log_sigma = nn.Embedding(v, bits)
        self.q_context = nn.Linear(h, 2 * bits)  # the context's shift of the dequantiser's mu, log sigma
        for layer in (self.base, self.q_context, self.q_mu, self.q_log_sigma):
            nn.init.zeros_(layer.weight)
        nn.init.zeros_(self.base.bias)
        nn.init.zeros_(self.q_context.bias)
        self.register_buffer("powers", 2 ** torch.arange(bits), persistent=False)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "text" or "vocab_size" not in info.extra:
            raise GenzooError(
                f"model 'argmax_flow' needs character data (e.g. pydoc_chars); {info.name!r} is {info.kind} data"
            )
        return {"vocab_size": int(info.extra["vocab_size"]), "seq_len": int(info.shape[0])}

    def _codes(self, x: Any) -> Tensor:
        x = x[0] if isinstance(x, (list, tuple)) else x
        x = torch.as_tensor(x, device=self.device)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.dtype not in (torch.int64, torch.int32):
            raise GenzooError(f"argmax_flow takes (N, T) integer character codes, got {tuple(x.shape)} {x.dtype}")
        if (x < 0).any() or (x >= self.config.vocab_size).any():
            raise GenzooError(f"character codes must lie in [0, {self.config.vocab_size})")
        return x.long()

    def _context(self, x: Tensor) -> Tensor:
        """GRU state after x_<t for every t: (N, T, context)."""
        start = torch.full_like(x[:, :1], self.config.vocab_size)
        out, _ = self.rnn(self.embed(torch.cat([start, x[:, :-1]], 1)))
        return out

    def _base(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-scale of the base Gaussian given the context h_t."""
        mu, log_sigma = self.base(h).chunk(2, -1)
        return mu, log_sigma.clamp(-5, 3)

    def _bound_terms(self, x: Tensor, k: int = 1) -> Tensor:
        """log p(v | x_<t) - log q(v | x_t) for k draws of v: (k, N, T) in nats."""
        n, t = x.shape
        h = self._context(x).reshape(n * t, -1).repeat(k, 1)
        xf = x.reshape(-1).repeat(k)
        q_shift, q_log_scale = self.q_context(h).chunk(2, 1)
        mu, log_sigma = self.q_mu(xf) + q_shift, (self.q_log_sigma(xf) + q_log_scale).clamp(-5, 3)
        eps = torch.randn_like(mu)
        u = mu + torch.exp(log_sigma) * eps
        sign = ((xf[:, None] // self.powers) % 2) * 2.0 - 1.0
        v = sign * F.softplus(u)
        # log q(v|x) = log N(u; mu, sigma) - log|dv/du|, and |dv/du| = sigmoid(u) per coordinate
        log_q = (-0.5 * eps.pow(2) - 0.5 * LOG_2PI - log_sigma - F.logsigmoid(u)).sum(1)
        z, ld = self.flow(v, h)
        base_mu, base_log_sigma = self._base(h)
        e = (z - base_mu) * torch.exp(-base_log_sigma)
        log_p = (-0.5 * e.pow(2) - 0.5 * LOG_2PI - base_log_sigma).sum(1) + ld
        return (log_p - log_q).view(k, n, t)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        x = self._codes(batch)
        nll = -self._bound_terms(x)[0].mean()
        return {"loss": nll, "bits_per_char": nll.detach() / math.log(2)}

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int = 1) -> Tensor:
        """Lower bound on log P(sequence) in nats (importance-weighted over k draws per character)."""
        terms = self._bound_terms(self._codes(x), k)
        return (torch.logsumexp(terms, 0) - math.log(k)).sum(1)

    @torch.no_grad()
    def sample(self, n: int, length: int | None = None, temperature: float = 1.0) -> Tensor:
        """(n, length) character codes, one argmax of a flow sample per step."""
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        length = length or self.config.seq_len
        v_size = self.config.vocab_size
        token = torch.full((n, 1), v_size, device=self.device)
        state, out = None, []
        for _ in range(length):
            h, state = self.rnn(self.embed(token), state)
            code = torch.full((n,), v_size, device=self.device)
            for _attempt in range(20):  # redraw the rows whose bits spell no character
                bad = code >= v_size
                if not bad.any():
                    break
                base_mu, base_log_sigma = self._base(h[bad, 0])
                eps = torch.randn(int(bad.sum()), self.bits, device=self.device) * temperature
                v = self.flow.inverse(base_mu + torch.exp(base_log_sigma) * eps, h[bad, 0])
                code[bad] = ((v > 0).long() * self.powers).sum(1)
            token = code.clamp(max=v_size - 1)[:, None]
            out.append(token)
        return torch.cat(out, 1)

    def sample_grid(self, n: int = 64) -> None:
        return None
