"""One decoding core for every token model (text, music events, audio samples, image tokens).

A *token model* supplies only its next-token logits given the tokens so far, through a cache:

    context_length: int | None                   # None for RNNs and convolutions (no limit)
    vocab_size: int | None                       # prompts are checked against it
    device: torch.device
    new_cache(batch_size) -> Cache               # a KVCache for transformers, a StateCache for RNN/conv state
    forward_tokens(ids (B, T), cache) -> logits (B, T, V)  # appends to the cache

`generate` (greedy, sampling, beam search) and `stream` (a generator of each step's tokens) then run the
one token loop (`decode.py`) for all of them: a `LogitsProcessorList` (guidance mixing, repetition penalty,
temperature, top-k, top-p, min-p from the `GenerationConfig`, then any the caller adds: token masks,
grammars, music's time budget), a `StoppingCriteriaList` (eos, stop strings, max length, custom
predicates), the sliding window past the context, and classifier-free guidance for any model (`Guided`).
Encoder-decoders pass `new_cache=` that carries the encoder's memory.
"""

from genzoo.generation.cache import Cache, KVCache, StateCache
from genzoo.generation.config import GenerationConfig
from genzoo.generation.decode import beam_search, generate, stream
from genzoo.generation.guidance import Guided
from genzoo.generation.processors import (
    AllowedTokens,
    ClassifierFreeGuidance,
    LogitsProcessor,
    LogitsProcessorList,
    MinP,
    RepetitionPenalty,
    SuppressTokens,
    Temperature,
    TopK,
    TopP,
    min_p_filter,
    processors_from_config,
    top_k_filter,
    top_p_filter,
)
from genzoo.generation.stopping import (
    EosToken,
    MaxLength,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStrings,
    StopWhen,
)
from genzoo.generation.streaming import TextStreamer

__all__ = [
    "AllowedTokens",
    "Cache",
    "ClassifierFreeGuidance",
    "EosToken",
    "GenerationConfig",
    "Guided",
    "KVCache",
    "LogitsProcessor",
    "LogitsProcessorList",
    "MaxLength",
    "MinP",
    "RepetitionPenalty",
    "StateCache",
    "StopStrings",
    "StopWhen",
    "StoppingCriteria",
    "StoppingCriteriaList",
    "SuppressTokens",
    "Temperature",
    "TextStreamer",
    "TopK",
    "TopP",
    "beam_search",
    "generate",
    "min_p_filter",
    "processors_from_config",
    "stream",
    "top_k_filter",
    "top_p_filter",
]
