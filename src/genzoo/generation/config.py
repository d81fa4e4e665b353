"""GenerationConfig: every decoding choice in one JSON-friendly dataclass (HF's names where they exist)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from genzoo.errors import GenzooError


@dataclass
class GenerationConfig:
    """How to decode. `do_sample=False` is greedy; `num_beams > 1` is beam search (deterministic).

    max_new_tokens: tokens to add after the prompt.
    temperature, top_k (0 = off), top_p (1 = off), min_p (0 = off): sampling filters, applied in that order.
    repetition_penalty: CTRL's penalty (>1 discourages tokens already in the sequence).
    length_penalty: beam scores are sum(log p) / generated_length ** length_penalty.
    stop_strings: stop a sequence once its generated text contains one (the text is cut before it).
    eos_token_id: stop a sequence when this token is produced (None = never).
    pad_token_id: what a finished sequence is filled with (None = eos_token_id, else 0).
    guidance_scale: classifier-free guidance weight w (1 = off); needs an unconditional prompt.
    window_stride: past the context length, keep the last (context - stride) tokens and re-encode them
        every `stride` tokens (0 = a quarter of the context); the cache is reused in between.
    seed: make sampling reproducible (None = the global torch RNG).
    prompt_lookup_num_tokens: greedy only; draft up to this many tokens by finding the sequence's last few
        tokens earlier in it and copying what followed (prompt lookup decoding), then check the whole draft
        in one forward pass (0 = off). The tokens are greedy's own; at batch 1 a step reads every weight
        once whether it checks one token or five, so each accepted draft token is a step saved.
    """

    max_new_tokens: int = 100
    do_sample: bool = True
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0
    stop_strings: tuple[str, ...] = ()
    eos_token_id: int | None = None
    pad_token_id: int | None = None
    guidance_scale: float = 1.0
    window_stride: int = 0
    seed: int | None = None
    prompt_lookup_num_tokens: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.max_new_tokens >= 0, f"max_new_tokens must be >= 0, got {self.max_new_tokens}"),
            (
                self.temperature > 0,
                f"temperature must be > 0, got {self.temperature} (use do_sample=False for greedy)",
            ),
            (self.top_k >= 0, f"top_k must be >= 0, got {self.top_k}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (0 <= self.min_p < 1, f"min_p must be in [0, 1), got {self.min_p}"),
            (self.repetition_penalty > 0, f"repetition_penalty must be > 0, got {self.repetition_penalty}"),
            (self.num_beams >= 1, f"num_beams must be >= 1, got {self.num_beams}"),
            (self.window_stride >= 0, f"window_stride must be >= 0, got {self.window_stride}"),
            (
                self.prompt_lookup_num_tokens >= 0,
                f"prompt_lookup_num_tokens must be >= 0, got {self.prompt_lookup_num_tokens}",
            ),
            (
                not self.prompt_lookup_num_tokens or (not self.do_sample and self.num_beams == 1),
                "prompt_lookup_num_tokens drafts for greedy decoding: set do_sample=False and num_beams=1",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise GenzooError(message)
        self.stop_strings = tuple(self.stop_strings)

    def updated(self, **changes: Any) -> GenerationConfig:
        """A copy with `changes` applied; None values are ignored (handy for CLI flags left unset)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
