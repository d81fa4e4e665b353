"""`music_gpt`: the GPT decoder over note-on / note-off / time-shift music events (Music Transformer-sized,
without relative attention).

The network, the KV cache and decoding are GPT's and the shared generation core's (`genzoo.generation`):
top-k / top-p / temperature sampling and sliding past `context_length` come from there. What music needs on
top is small: the vocabulary is the event vocabulary of `genzoo.data.music` (no text tokenizer), PAD
targets (the tail of a piece's last window) are left out of the loss, PAD and BOS can never be predicted,
and two logits processors of `genzoo.generation.music`: a time budget that ends a piece at a length in
16th notes (`max_time`), and an optional event grammar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import Recipe
from genzoo.data.info import DataInfo
from genzoo.data.music import BOS, EOS, PAD, VOCAB_SIZE, compose_from_events
from genzoo.errors import GenzooError
from genzoo.generation import GenerationConfig, generate
from genzoo.generation.music import event_processors
from genzoo.models.transformers.gpt import DecoderLM, GPTConfig
from genzoo.nn.kv_cache import KVCache
from genzoo.protocols import Composer
from genzoo.registry import register_model


@dataclass
class MusicGPTConfig(GPTConfig):
    vocab_size: int = VOCAB_SIZE
    context_length: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.1


@register_model(
    "music_gpt", "decoder-only transformer over note-on/off/time-shift music events (GPT + generation core)"
)
class MusicGPT(DecoderLM, Composer):
    """GPT over event tokens; `sample(n, steps=...)` returns token sequences starting with BOS."""

    quick = Recipe("chorales", {"context_length": 64, "n_layer": 1, "n_head": 2, "d_model": 32},
                   {"limit": 4, "seq_len": 48})

    Config = MusicGPTConfig
    default_lr = 1e-3
    #: no weight EMA by default, unlike music_lstm: on the val pieces EMA 0.99 helped on the chorales
    #: (pitch-class KL 0.020 vs 0.029, NLL 1.229 vs 1.241) and hurt on Palestrina (0.066 vs 0.042, NLL 1.500
    #: vs 1.469) (benchmarks/results/music_corpus_val.json); `genzoo train --ema 0.99` keeps one
    default_precision = "32-true"

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.extra.get("representation") != "events":
            raise GenzooError(f"model {cls.model_name!r} needs event tokens (dataset 'chorales'); got {info.name!r}")
        return {"vocab_size": int(info.extra["vocab_size"])}

    def forward_tokens(self, ids: Tensor, cache: KVCache | None = None) -> Tensor:
        """GPT's logits with PAD and BOS ruled out: neither ever follows a real event."""
        logits = super().forward_tokens(ids, cache)
        return logits.index_fill(-1, torch.tensor([PAD, BOS], device=logits.device), float("-inf"))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """Cross-entropy per event in nats on (B, T + 1) windows; PAD targets are ignored."""
        batch = batch.long().to(self.device)
        logits = self.train_logits(batch[:, :-1]).float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=PAD)
        return {"loss": nll, "nll_per_event": nll.detach()}

    @torch.no_grad()
    def log_prob(self, x: Tensor, **_: Any) -> Tensor:
        """Summed log-likelihood (nats) of each sequence's non-PAD tokens after the first, any length.

        A piece longer than the context is scored in windows of `context_length` tokens moving by half a
        context: the first window scores all its tokens, each later one only its second half, so every event
        is scored once, with at least half a context before it (the usual strided perplexity)."""
        x = torch.as_tensor(x, dtype=torch.long, device=self.device)
        x = x.unsqueeze(0) if x.ndim == 1 else x
        if int(x.min()) < 0 or int(x.max()) >= self.vocab_size:
            raise GenzooError(f"token ids must be in 0..{self.vocab_size - 1}")
        total = torch.zeros(x.shape[0], device=self.device)
        last = x.shape[1] - 1  # targets are x[:, 1..last]
        scored = 0  # targets x[:, 1..scored] are done
        for begin in range(0, max(last, 1), max(1, self.context_length // 2)):
            end = min(begin + self.context_length, last)
            targets = x[:, begin + 1 : end + 1]
            logp = torch.log_softmax(self.forward_tokens(x[:, begin:end]).float(), -1)
            logp = logp.gather(-1, targets[..., None]).squeeze(-1).masked_fill(targets == PAD, 0.0)
            total += logp[:, scored - end :].sum(-1) if scored > begin else logp.sum(-1)
            scored = end
            if end == last:
                break
        return total

    def compose(self, n: int, bars: int, prime: Any = None, temperature: float = 1.0) -> list[Any]:
        """`n` pieces of `bars` bars (note arrays), continuing `prime` notes if given."""
        return compose_from_events(self.sample, n, bars, prime, temperature, self.data_info)

    @torch.no_grad()
    def sample(  # type: ignore[override]  # events, not text: steps/prime replace prompt/max_new_tokens
        self,
        n: int,
        steps: int = 512,
        prime: Tensor | list[int] | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        max_time: int | None = None,
        grammar: bool = False,
        fill: bool = False,
    ) -> Tensor:
        """`n` token sequences (n, <= 1 + len(prime) + steps), PAD after EOS, sampled by the generation core.

        max_time: end each sequence with EOS once its time-shifts reach this many 16th-note steps.
        grammar: allow only well-formed events (`genzoo.generation.music.EventGrammar`).
        fill: no EOS before `max_time` (the piece runs to its budget).
        """
        if n < 1 or steps < 1:
            raise GenzooError("sample needs n >= 1 and steps >= 1")
        self.eval()
        start = torch.full((n, 1), BOS, dtype=torch.long)
        if prime is not None:
            prime = torch.as_tensor(prime, dtype=torch.long).reshape(1, -1).expand(n, -1)
            start = torch.cat([start, prime[:, 1:] if prime[0, 0] == BOS else prime], 1)
        head = start[:, : max(0, start.shape[1] - self.context_length)]  # the core sees the last context tokens
        config = GenerationConfig(max_new_tokens=steps, eos_token_id=EOS, pad_token_id=PAD)
        processors = event_processors(
            temperature, top_k, top_p, grammar, max_time, start.shape[1] - head.shape[1], fill
        )
        return torch.cat([head.to(self.device), generate(self, start, config, processors=processors)], 1)
