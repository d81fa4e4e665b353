"""What both text-to-image kinds share: the caption tokenizer, a small text encoder, prompts, reranking.

`CaptionConditioned` is a mixin over `GenerativeModel`: `sample(n, prompt=..., guidance_scale=..., rerank=k)`
turns prompts into caption ids and calls the model's `generate_images(ids, guidance_scale, seed)`; with
`rerank=k` it draws k candidates per image and keeps the one the reading classifier
(`genzoo.metrics.caption_match`) finds most consistent with the caption (DALL·E's CLIP reranking, with
our reader in CLIP's place).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.data.captions import PAD, CaptionTokenizer, Scene, parse_caption
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.models.transformers.layers import Block, init_weights
from genzoo.protocols import Sampler, TextToImage


class TextEncoder(nn.Module):
    """Caption ids (N, L) -> token features (N, L, dim) and a key mask (N, L), True where not padding.

    A small bidirectional transformer trained together with the image model (Imagen uses a frozen T5;
    nothing that large fits offline on a CPU, and the caption language here is small).
    """

    def __init__(self, vocab: int, length: int, dim: int, layers: int, heads: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(length, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        init_weights(self, max(layers, 1))

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        mask = ids != PAD
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        for block in self.blocks:
            x = block(x, key_mask=mask)
        return self.ln(x), mask


@functools.lru_cache(maxsize=4096)
def _scene_of(text: str) -> Scene | None:
    return parse_caption(text)


def reword_captions(ids: Tensor, tokenizer: CaptionTokenizer) -> Tensor:
    """Caption augmentation: every `captioned_digits` caption in the batch rewritten in a random one of its
    equivalent wordings ("a 3 to the left of a 7" <-> "a 7 to the right of a 3", "two 4s side by side"),
    drawn from torch's global generator; captions outside that grammar (and the empty caption) are kept.

    Each image then teaches the model every wording of its scene, not only the one it was captioned with,
    so which word says where is learned from the relation words rather than from word order.
    """
    out = ids.clone()
    variants = torch.randint(0, 3, (len(ids),)).tolist()
    for i, (row, variant) in enumerate(zip(ids.tolist(), variants, strict=True)):
        scene = _scene_of(tokenizer.decode(row))
        if scene is not None:
            out[i] = torch.tensor(tokenizer.encode(scene.caption(variant), warn=False))
    return out


def captioned_fields(info: DataInfo) -> dict[str, Any]:
    """Config fields implied by a captioned dataset (its tokenizer and caption length)."""
    if not info.extra.get("captioned"):
        raise GenzooError(f"text-to-image models need captioned data (e.g. captioned_digits); {info.name!r} has "
                          "no captions")
    return {"tokenizer": info.extra["tokenizer"], "text_length": int(info.extra["text_length"]),
            "text_vocab": int(info.extra["text_vocab"])}


class CaptionConditioned(TextToImage, Sampler):
    """Mixin: prompts in, images out. The host class supplies `generate_images` and `config.tokenizer`."""

    config: Any
    data_info: DataInfo | None

    @functools.cached_property
    def caption_tokenizer(self) -> CaptionTokenizer:
        return CaptionTokenizer.from_json(self.config.tokenizer)

    def caption_ids(self, prompt: str | list[str] | None, n: int) -> Tensor:
        """n rows of caption ids: one prompt repeated, a list of n prompts, or the empty caption (None)."""
        tok = self.caption_tokenizer
        if prompt is None:
            return tok.null(n)
        prompts = [prompt] * n if isinstance(prompt, str) else list(prompt)
        if len(prompts) != n:
            raise GenzooError(f"got {len(prompts)} prompts for {n} samples; give one prompt or exactly n")
        return tok.batch(prompts)

    def generate_images(self, ids: Tensor, guidance_scale: float, seed: int | None, **kwargs: Any) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, prompt: str | list[str] | None = None, guidance_scale: float | None = None,
               rerank: int = 1, seed: int | None = None, **kwargs: Any) -> Tensor:
        """n images in [0, 1] for `prompt`; `rerank=k` keeps the best of k candidates by the reading classifier."""
        if not isinstance(n, int) or n < 1:
            raise GenzooError(f"number of samples must be a positive integer, got {n!r}")
        if rerank < 1:
            raise GenzooError(f"rerank must be at least 1, got {rerank}")
        ids = self.caption_ids(prompt, n)
        w = self.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        if rerank == 1:
            return self.generate_images(ids, w, seed, **kwargs)
        return self._reranked(ids, prompt, n, w, rerank, seed, **kwargs)

    def _reranked(self, ids: Tensor, prompt: str | list[str] | None, n: int, w: float, k: int,
                  seed: int | None, **kwargs: Any) -> Tensor:
        from genzoo.metrics.caption_match import reader_for, scene_log_prob

        prompts = [prompt] * n if isinstance(prompt, str) else list(prompt or [])
        scenes = [parse_caption(p) for p in prompts]
        if not prompts or any(s is None for s in scenes):
            raise GenzooError("reranking reads captioned_digits scenes; give prompts like 'a large 3 above a small 7'")
        shape = self.data_info.shape if self.data_info is not None else None
        if shape is None or shape[0] != 1 or shape[1] != shape[2]:
            raise GenzooError("reranking needs a model trained on square grey captioned_digits canvases")
        candidates = self.generate_images(ids.repeat_interleave(k, 0), w, seed, **kwargs)
        reader = reader_for()
        scores = scene_log_prob(reader, candidates, [s for s in scenes for _ in range(k)])  # type: ignore[misc]
        best = scores.view(n, k).argmax(1) + torch.arange(n) * k
        return candidates[best]

    def sample_grid(self, n: int = 64) -> Tensor:
        """Training-time grid: "a large 0" ... "a large 9" where the vocabulary has those words, else unconditional."""
        words = self.caption_tokenizer.index
        if all(w in words for w in ("a", "large", *map(str, range(10)))):
            return self.sample(n, prompt=[f"a large {i % 10}" for i in range(n)])
        return self.sample(n)
