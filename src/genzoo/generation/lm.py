"""`CausalLM`: what every decoder-only token model (gpt, char_rnn, ...) shares on top of the decoding core.

A subclass supplies `forward_tokens(ids, cache)`, `new_cache(batch)`, `context_length` and
`flops_per_token()`; this class gives it the next-token loss (with an MFU estimate logged while training),
`log_prob` (exact, nats per sequence), `sample`, and the text front-end: `generate_text` / `stream_text`
with the tokenizer stored in the config.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import GenerativeModel
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import Tokenizer, tokenizer_from_json
from genzoo.errors import GenzooError
from genzoo.generation.config import GenerationConfig
from genzoo.generation.decode import generate, stream
from genzoo.generation.streaming import TextStreamer
from genzoo.protocols import Likelihood, Sampler


class CausalLM(GenerativeModel, Sampler, Likelihood):
    """Base class of next-token language models. Config needs `vocab_size` and `tokenizer` (JSON) fields.

    Text models add `TokenModel` to their bases; token models over other vocabularies (music events) do
    not, so nothing offers to continue a text prompt with ids its tokenizer cannot read.
    """

    default_lr = 1e-3
    context_length: int | None = None

    def __init__(self, config: Any, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if config.vocab_size < self.tokenizer.vocab_size:
            raise GenzooError(
                f"vocab_size {config.vocab_size} is smaller than the tokenizer's {self.tokenizer.vocab_size}"
            )
        self._last_step: float | None = None

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "text" or "vocab_size" not in info.extra:
            raise GenzooError(
                f"model {cls.model_name!r} needs text data (e.g. pydoc); {info.name!r} is {info.kind}"
            )
        return {"vocab_size": int(info.extra["vocab_size"]), "tokenizer": info.extra.get("tokenizer", "")}

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        return tokenizer_from_json(self.config.tokenizer)

    @property
    def vocab_size(self) -> int:
        return int(self.config.vocab_size)

    # -- what subclasses provide ----------------------------------------------------------------------
    def forward_tokens(self, ids: Tensor, cache: Any = None) -> Tensor:
        raise NotImplementedError

    def new_cache(self, batch_size: int) -> Any:
        raise NotImplementedError

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward); 6 per parameter unless a model knows better."""
        return 6.0 * sum(p.numel() for p in self.parameters())

    def train_logits(self, x: Tensor) -> Tensor:
        """Logits for a training window; RNNs override this to truncate backpropagation through time."""
        return self.forward_tokens(x)

    # -- the protocol -----------------------------------------------------------------------------------
    def loss(self, batch: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
        """Next-token cross-entropy on (B, T + 1) windows, in nats per token; logs tokens/s and MFU.

        A dict `{"ids", "loss_mask"}` (supervised fine-tuning, e.g. `manpage_chat`) takes the loss only on
        the tokens whose mask is set: the answers, not the prompts the model is only to read.
        """
        mask = None
        if isinstance(batch, dict):
            mask = batch["loss_mask"].to(self.device)[:, 1:]
            batch = batch["ids"]
        batch = batch.to(self.device)
        x, y = batch[:, :-1], batch[:, 1:]
        logits = self.train_logits(x)
        if mask is not None:
            y = y.masked_fill(~mask, -100)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        parts = {"loss": loss, "bits_per_token": loss.detach() / torch.log(torch.tensor(2.0))}
        if self.training:
            parts.update(self._throughput(x.numel()))
        return parts

    def _throughput(self, tokens: int) -> dict[str, Tensor]:
        """Tokens/s and MFU from the time between consecutive training steps (the whole step, honestly)."""
        from genzoo.nn.flops import matmul_peak_flops

        now = time.perf_counter()
        last, self._last_step = self._last_step, now
        if last is None or now - last > 60:
            return {}
        rate = tokens / (now - last)
        dev = self.device.type
        peak = matmul_peak_flops("float32", "cuda" if dev == "cuda" else "cpu")
        return {"tokens_per_s": torch.tensor(rate), "mfu": torch.tensor(rate * self.flops_per_token() / peak)}

    @torch.no_grad()
    def log_prob(self, x: Tensor, **_: Any) -> Tensor:
        """log p(x_1..x_T | x_0) in nats per sequence (the first token is the given context)."""
        x = torch.as_tensor(x, dtype=torch.long, device=self.device)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if int(x.min()) < 0 or int(x.max()) >= self.vocab_size:
            raise GenzooError(f"token ids must be in 0..{self.vocab_size - 1}")
        logits = self.forward_tokens(x[:, :-1]).float()
        logp = torch.log_softmax(logits, -1).gather(-1, x[:, 1:, None]).squeeze(-1)
        return logp.sum(-1)

    @torch.no_grad()
    def sample(self, n: int, prompt: str = "\n", max_new_tokens: int = 200, **generation: Any) -> Tensor:
        """n continuations of `prompt` as token ids (n, prompt + new); decode with `self.tokenizer`."""
        if n < 1:
            raise GenzooError(f"number of samples must be at least 1, got {n}")
        config = GenerationConfig(max_new_tokens=max_new_tokens, **generation)
        ids = self.encode_prompt(prompt).expand(n, -1)
        return generate(self, ids, config, decode=self.tokenizer.decode)

    # -- text front-end -----------------------------------------------------------------------------------
    def encode_prompt(self, prompt: str) -> Tensor:
        if not isinstance(prompt, str) or not prompt:
            raise GenzooError("the prompt is empty: give some text to continue")
        return torch.tensor([self.tokenizer.encode(prompt)], dtype=torch.long)

    def stream_text(
        self, prompt: str, config: GenerationConfig | None = None, **overrides: Any
    ) -> Iterator[str]:
        """Yield the continuation of `prompt` piece by piece as it is generated (stop strings cut it)."""
        config = (config or GenerationConfig()).updated(**overrides)
        ids = self.encode_prompt(prompt)
        tok = self.tokenizer
        streamer = TextStreamer(tok.decode)
        held = ""  # text withheld because it might be the start of a stop string
        tokens = (int(t[0]) for t in stream(self, ids, config, decode=tok.decode))
        hold = max((len(s) for s in config.stop_strings), default=1) - 1
        for piece in streamer.pieces(tokens):
            held += piece
            cut = min((held.find(s) for s in config.stop_strings if s in held), default=-1)
            if cut >= 0:
                if held[:cut]:
                    yield held[:cut]
                return
            if len(held) > hold:
                yield held[: len(held) - hold]
                held = held[len(held) - hold :]
        if held:
            yield held

    def generate_text(
        self,
        prompt: str,
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> str:
        """The continuation of `prompt` (without the prompt). Beam search when num_beams > 1."""
        config = (config or GenerationConfig()).updated(**overrides)
        if config.num_beams > 1:
            ids = self.encode_prompt(prompt)
            out = generate(self, ids, config, decode=self.tokenizer.decode)
            n_prompt = min(
                ids.shape[1], self.context_length or ids.shape[1]
            )  # the core truncates long prompts
            text = self.tokenizer.decode(out[0, n_prompt:])
            cuts = [text.find(s) for s in config.stop_strings if s in text]
            return text[: min(cuts)] if cuts else text
        pieces = []
        for piece in self.stream_text(prompt, config):
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
        return "".join(pieces)
