"""Encoder-decoder transformer (Vaswani et al. 2017) for translation and summarisation.

Trained with teacher forcing (the decoder reads the gold target shifted right) and label smoothing.
With `copy=True` the output is a pointer-generator mixture (See et al. 2017): a gate p_gen mixes
the vocabulary softmax with a copy distribution — one attention head over the source tokens, its weights
scattered onto their ids — so names, numbers and words shared by source and target can be copied rather than
spelled out of the vocabulary. The model then returns log-probabilities, which serve as logits everywhere.
Decoding reuses `genzoo.generation`: the decoder is a token model whose cache carries the encoder's
memory next to its own keys and values, so greedy, sampling and beam search come for free.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import BOS, EOS, N_SPECIAL, PAD, Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError
from genzoo.generation.cache import KVCache
from genzoo.generation.config import GenerationConfig
from genzoo.generation.decode import generate
from genzoo.models.transformers.layers import Block, init_weights
from genzoo.protocols import TextToText
from genzoo.registry import register_model


@dataclass
class Seq2SeqConfig:
    vocab_size: int = N_SPECIAL + 256
    d_model: int = 128
    n_head: int = 4
    enc_layers: int = 2
    dec_layers: int = 2
    max_len: int = 256
    dropout: float = 0.1
    label_smoothing: float = 0.1
    copy: bool = False
    copy_supervision: float = 1.0  # weight of the copy head's own NLL on target tokens found in the source
    tokenizer: str = ""


def sinusoids(length: int, dim: int) -> Tensor:
    """The original transformer's sine/cosine position table (length, dim). Absolute positions let the decoder
    find "the i-th source token from the end", which copy/reverse-like tasks need."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) * (torch.log(torch.tensor(10000.0)) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class Seq2SeqCache(KVCache):
    """Decoder self-attention keys/values plus the encoder memory they attend to (reordered together)."""

    def __init__(
        self, n_layers: int, max_length: int, memory: Tensor, memory_mask: Tensor, source: Tensor
    ) -> None:
        super().__init__(n_layers, max_length)
        self.memory = memory
        self.memory_mask = memory_mask
        self.source = source

    def reorder(self, index: Tensor) -> None:
        super().reorder(index)
        self.memory = self.memory.index_select(0, index.to(self.memory.device))
        self.memory_mask = self.memory_mask.index_select(0, index.to(self.memory_mask.device))
        self.source = self.source.index_select(0, index.to(self.source.device))


@register_model("seq2seq", "encoder-decoder transformer: translation, summarisation (teacher forcing, label smoothing)")
class Seq2Seq(GenerativeModel, TextToText):
    """Transformer encoder-decoder over one shared tokenizer and tied embeddings."""

    quick = Recipe("translation_en_fr", {"d_model": 32, "n_head": 2, "enc_layers": 1, "dec_layers": 1})

    Config = Seq2SeqConfig
    default_lr = 1e-3

    def __init__(self, config: Seq2SeqConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        if c.vocab_size < self.tokenizer.vocab_size:
            raise GenzooError(
                f"vocab_size {c.vocab_size} is smaller than the tokenizer's {self.tokenizer.vocab_size}"
            )
        self.context_length = c.max_len
        self.emb = nn.Embedding(c.vocab_size, c.d_model)
        self.register_buffer("positions", sinusoids(c.max_len + 1, c.d_model), persistent=False)
        self.encoder = nn.ModuleList(Block(c.d_model, c.n_head, c.dropout) for _ in range(c.enc_layers))
        self.decoder = nn.ModuleList(
            Block(c.d_model, c.n_head, c.dropout, cross=True) for _ in range(c.dec_layers)
        )
        self.ln_enc = nn.LayerNorm(c.d_model, bias=False)
        self.ln_dec = nn.LayerNorm(c.d_model, bias=False)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.copy:
            self.copy_q = nn.Linear(c.d_model, c.d_model, bias=False)
            self.copy_k = nn.Linear(c.d_model, c.d_model, bias=False)
            self.copy_gate = nn.Linear(2 * c.d_model, 1)
        init_weights(self, c.enc_layers + c.dec_layers)
        nn.init.normal_(
            self.emb.weight, 0.0, c.d_model**-0.5
        )  # x sqrt(d) in _embed: unit scale, like positions
        self.head.weight = self.emb.weight

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "text" or "task" not in info.extra:
            raise GenzooError(
                f"model 'seq2seq' needs paired text (e.g. translation_en_fr); {info.name!r} is not"
            )
        return {
            "vocab_size": int(info.extra["vocab_size"]),
            "tokenizer": info.extra["tokenizer"],
            "max_len": max(int(info.extra.get("max_len", 256)), 8),
        }

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        return tokenizer_from_json(self.config.tokenizer)

    @property
    def vocab_size(self) -> int:
        return int(self.config.vocab_size)

    # -- networks --------------------------------------------------------------------------------------
    def _embed(self, ids: Tensor, offset: int) -> Tensor:
        """Token embedding (scaled as in Vaswani et al.) plus absolute sinusoidal positions from `offset`."""
        pos = self.positions[offset : offset + ids.shape[1]]
        return self.emb(ids) * self.config.d_model**0.5 + pos

    def encode_tokens(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Source ids (B, S) -> memory (B, S, D) and its key mask (True = a real token)."""
        src = src.to(self.device)[:, : self.config.max_len]
        mask = src != PAD
        x = self._embed(src, 0)
        for block in self.encoder:
            x = block(x, key_mask=mask)
        return self.ln_enc(x), mask

    def _output(
        self, h: Tensor, memory: Tensor, memory_mask: Tensor, source: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Decoder states (B, T, D) -> (logits, None), or with `copy` the pointer-generator's
        (log-probabilities, copy distribution over the vocabulary)."""
        logits = self.head(h)
        if not self.config.copy:
            return logits, None
        scores = self.copy_q(h) @ self.copy_k(memory).transpose(1, 2) * self.config.d_model**-0.5
        attn = scores.float().masked_fill(~memory_mask[:, None, :], float("-inf")).softmax(-1)  # (B, T, S)
        context = (attn.to(memory.dtype) @ memory).float()
        gate = self.copy_gate(torch.cat([h.float(), context], -1))  # log p_gen = logsigmoid(gate)
        copy = torch.zeros(*attn.shape[:2], logits.shape[-1], device=h.device).scatter_add_(
            2, source[:, None, :].expand(-1, attn.shape[1], -1), attn
        )
        mixed = torch.logaddexp(
            F.logsigmoid(gate) + F.log_softmax(logits.float(), -1),
            F.logsigmoid(-gate) + copy.clamp_min(1e-12).log(),
        )
        return mixed, copy

    def forward_tokens(self, ids: Tensor, cache: Seq2SeqCache) -> Tensor:
        """Decoder step(s): target ids (B, T) after `cache.length` earlier ones -> logits (B, T, V)."""
        x = self._embed(ids.to(self.device), cache.length)
        for i, block in enumerate(self.decoder):
            x = block(
                x, causal=True, cache=cache, layer=i, memory=cache.memory, memory_mask=cache.memory_mask
            )
        cache.advance(ids.shape[1])
        return self._output(self.ln_dec(x), cache.memory, cache.memory_mask, cache.source)[0]

    def _decode_train(
        self, tgt_in: Tensor, memory: Tensor, memory_mask: Tensor, source: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        x = self._embed(tgt_in, 0)
        for block in self.decoder:
            x = block(x, causal=True, memory=memory, memory_mask=memory_mask)
        return self._output(self.ln_dec(x), memory, memory_mask, source)

    # -- protocol --------------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        src, tgt = batch["src"].to(self.device), batch["tgt"].to(self.device)[:, : self.config.max_len + 1]
        memory, mask = self.encode_tokens(src)
        source = src[:, : self.config.max_len]
        logits, copy = self._decode_train(tgt[:, :-1], memory, mask, source)
        logits = logits.float()
        flat, gold = logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1)
        loss = F.cross_entropy(flat, gold, ignore_index=PAD, label_smoothing=self.config.label_smoothing)
        if copy is not None and self.config.copy_supervision > 0:
            # Supervise the copy head directly wherever the gold token is in the source: otherwise the
            # vocabulary softmax learns the training tokens first and the copy path never takes over
            # (measured: no unseen letter was copied without this).
            target = tgt[:, 1:]
            present = (target[..., None] == source[:, None, :]).any(-1) & (target != PAD)
            if present.any():
                p_copy = copy.gather(-1, target[..., None]).squeeze(-1)[present]
                loss = loss + self.config.copy_supervision * -p_copy.clamp_min(1e-9).log().mean()
        with torch.no_grad():
            nll = F.cross_entropy(flat, gold, ignore_index=PAD)
        return {"loss": loss, "nll": nll}

    def validation_loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Validation uses the unsmoothed NLL, so early stopping tracks the likelihood."""
        parts = self.loss(batch)
        return {"loss": parts["nll"]}

    def new_cache_for(self, src: Tensor) -> Any:
        """A cache factory for the decoding core, bound to these sources' encoder memory."""
        memory, mask = self.encode_tokens(src)
        source = src.to(self.device)[:, : self.config.max_len]

        def new_cache(batch_size: int) -> Seq2SeqCache:
            m, k, s = memory, mask, source
            if batch_size != m.shape[0]:
                if m.shape[0] != 1:
                    raise ValueError(f"cache for {batch_size} rows from {m.shape[0]} sources")
                m, k, s = m.expand(batch_size, -1, -1), k.expand(batch_size, -1), s.expand(batch_size, -1)
            return Seq2SeqCache(self.config.dec_layers, self.config.max_len, m, k, s)

        return new_cache

    @torch.no_grad()
    def generate_ids(self, src: Tensor, config: GenerationConfig) -> list[list[int]]:
        """Target ids (without <bos>/<eos>) for each source row."""
        self.eval()
        config = config.updated(eos_token_id=EOS)
        config.max_new_tokens = min(config.max_new_tokens, self.config.max_len - 1)
        outs: list[list[int]] = []
        rows = [src[i : i + 1] for i in range(len(src))] if config.num_beams > 1 else [src]
        for rows_src in rows:
            bos = torch.full((len(rows_src), 1), BOS, dtype=torch.long)
            out = generate(self, bos, config, new_cache=self.new_cache_for(rows_src))
            for row in out[:, 1:].tolist():
                outs.append(row[: row.index(EOS)] if EOS in row else row)
        return outs

    def transform(
        self, texts: list[str], config: GenerationConfig | None = None, batch_size: int = 64, **overrides: Any
    ) -> list[str]:
        """Translate / summarise `texts` (greedy by default; num_beams > 1 for beam search)."""
        config = (config or GenerationConfig(do_sample=False, max_new_tokens=self.config.max_len)).updated(
            **overrides
        )
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise GenzooError("give at least one non-empty text to transform")
        out: list[str] = []
        for start in range(0, len(texts), batch_size):
            encoded = [
                torch.tensor(self.tokenizer.encode(t)[: self.config.max_len])
                for t in texts[start : start + batch_size]
            ]
            src = nn.utils.rnn.pad_sequence(encoded, batch_first=True, padding_value=PAD)
            out.extend(self.tokenizer.decode(ids) for ids in self.generate_ids(src, config))
        return out

    @torch.no_grad()
    def sample(self, n: int, sources: list[str] | None = None, **generation: Any) -> Tensor:
        """n sampled target token sequences for `sources` (one source repeated, or n sources)."""
        if not sources:
            raise GenzooError("seq2seq samples need sources=[text, ...] to condition on")
        texts = sources * n if len(sources) == 1 else sources
        ids = [
            torch.tensor(x)
            for x in self.generate_ids(
                nn.utils.rnn.pad_sequence(
                    [torch.tensor(self.tokenizer.encode(t)) for t in texts], batch_first=True
                ),
                GenerationConfig(max_new_tokens=self.config.max_len, **generation),
            )
        ]
        return nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=PAD)
