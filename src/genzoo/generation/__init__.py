"""One decoding core for every token model (text, music events, speech codes, image tokens).

A *token model* needs only three things, which is what lets one core serve every family:

    context_length: int | None                   # None for RNNs (no limit)
    new_cache(batch_size) -> Cache               # KVCache for transformers, a hidden state for RNNs
    forward_tokens(ids (B, T), cache) -> logits (B, T, V)  # appends to the cache

`generate` (greedy, sampling, beam search), `stream` (a generator of new tokens), the logits processors
(temperature, top-k, top-p, min-p, repetition penalty), stop strings and the sliding window past the
context length are then shared by all of them. Encoder-decoders pass `new_cache=` that carries the
encoder's memory.
"""

from genzoo.generation.cache import Cache, KVCache
from genzoo.generation.config import GenerationConfig
from genzoo.generation.decode import beam_search, generate, stream
from genzoo.generation.processors import apply_processors, min_p_filter, top_k_filter, top_p_filter
from genzoo.generation.streaming import TextStreamer

__all__ = [
    "Cache",
    "GenerationConfig",
    "KVCache",
    "TextStreamer",
    "apply_processors",
    "beam_search",
    "generate",
    "min_p_filter",
    "stream",
    "top_k_filter",
    "top_p_filter",
]
