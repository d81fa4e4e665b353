"""DALL·E-style text-to-image (Ramesh et al. 2021): one GPT over [caption tokens ; image tokens].

A trained `vqvae` (`tokens_of=RUN`) turns each image into a grid of codebook indices; the GPT
(`genzoo.models.transformers.gpt.DecoderLM`) reads the caption, a begin-image token, and the image tokens in
raster order, and learns to predict each image token (the loss covers image tokens only, normalised over
the codebook). Captions are swapped for the empty caption with probability `caption_dropout`, so the same
GPT is also an unconditional image-token model; sampling mixes the two in log-probability space,
log p_u + w (log p_c - log p_u) (classifier-free guidance for autoregressive models, as in Make-A-Scene).

With `caption_slots` (the default), a caption of the `captioned_digits` grammar reaches the GPT as its
scene in fixed attribute slots, [layout ; size, digit of slot 0 ; size, digit of slot 1] (`scene_slots`),
not as its words: then "a small 7 to the right of a large 3" and "a large 3 to the left of a small 7" are
one prefix, and each image region can attend to the same two prefix positions for its digit and size
whatever the wording. On word prefixes the small GPT learned layout and size but not which digit goes
where: it matched none of the pairs named right/bottom first ("a 7 to the right of a 3"); after 3500 steps
at guidance 3 it matched 0.36 of seen / 0.15 of held-out captions, with slots 0.65 / 0.29
(`benchmarks/results/text2image.json`, same tokenizer). Other captions are left as words.

Sampling runs through the shared decoding core (`genzoo.generation.generate`): KV cache, the guidance
(each row run beside its twin behind the empty caption, mixed by the core's classifier-free guidance
processor), temperature, top-k and top-p all come from there. `ImageTokens` is the GPT as the core sees
it: a token model whose next token is always an image token.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from genzoo.base import GenerativeModel, Recipe
from genzoo.data.captions import PAD, SIZES, WORDS, CaptionTokenizer, Scene, parse_caption
from genzoo.data.info import DataInfo
from genzoo.data.tokenizers import N_SPECIAL
from genzoo.errors import GenzooError
from genzoo.generation import GenerationConfig, KVCache, generate
from genzoo.models.text2image.common import CaptionConditioned, captioned_fields, reword_captions
from genzoo.models.transformers.gpt import DecoderLM, GPTConfig
from genzoo.registry import register_model

# the GPT's byte-tokenizer floor: CausalLM insists vocab_size >= its (unused here) byte tokenizer's size
_GPT_MIN_VOCAB = N_SPECIAL + 256
#: the caption word that stands for each layout in slot 0 of a slot encoding (a code: any distinct words do)
_LAYOUT_WORD = {"single": "a", "row": "side", "column": "top"}


@functools.lru_cache(maxsize=4096)
def _scene_of(text: str) -> Scene | None:
    return parse_caption(text)


def scene_slots(ids: Tensor, tokenizer: CaptionTokenizer) -> Tensor:
    """Caption ids re-encoded as their scene's attribute slots: the layout's word, then size and digit words
    per slot (left / top first), padded; e.g. "a small 7 to the right of a large 3" -> "side large 3 small 7".

    Captions outside the `captioned_digits` grammar, the empty caption, and vocabularies without these words
    are returned unchanged.
    """
    index = tokenizer.index
    if not all(w in index for w in (*_LAYOUT_WORD.values(), *SIZES, *map(str, range(10)))):
        return ids.clone()
    out = ids.clone()
    for i, row in enumerate(ids.tolist()):
        scene = _scene_of(tokenizer.decode(row))
        if scene is None:
            continue
        words = [_LAYOUT_WORD[scene.layout]]
        for digit, size in zip(scene.digits, scene.sizes, strict=True):
            words += [SIZES[size], str(digit)]
        out[i] = PAD
        out[i, : len(words)] = torch.tensor([index[w] for w in words])
    return out


@dataclass
class DalleConfig:
    #: saved runs whose config predates an option were trained as these values say (read by `genzoo.hub.load`)
    BEFORE_OPTION: ClassVar[dict[str, Any]] = {"caption_slots": False}

    tokens_of: str = ""  # a trained vqvae run: its token grids are the image vocabulary
    tokenizer: str = ""  # caption tokenizer JSON (from the dataset); "" = captioned_digits' words
    text_length: int = 12
    text_vocab: int = len(WORDS)
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.0
    caption_dropout: float = 0.1
    reword_captions: bool = False  # caption augmentation (`common.reword_captions`)
    caption_slots: bool = True  # grammar captions as fixed attribute slots (`scene_slots`)
    guidance_scale: float = 3.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


class ImageTokens:
    """The decoding core's view of a DALL·E model: the GPT, with every token that is not an image token
    ruled out (-inf), since only image tokens follow the begin-image token."""

    def __init__(self, model: Dalle) -> None:
        self.gpt = model.gpt
        self.context_length = self.gpt.context_length
        self.vocab_size = self.gpt.vocab_size
        self.device = self.gpt.device
        self.image = slice(model.image_offset, model.image_offset + model.codebook_size)

    def new_cache(self, batch_size: int) -> KVCache:
        return self.gpt.new_cache(batch_size)

    def forward_tokens(self, ids: Tensor, cache: KVCache | None = None) -> Tensor:
        logits = self.gpt.forward_tokens(ids, cache).float()
        out = torch.full_like(logits, float("-inf"))
        out[..., self.image] = logits[..., self.image]
        return out


@register_model(
    "dalle", "DALL·E-style GPT over [caption ; VQ-VAE image tokens] (tokens_of=RUN), guidance, top-k/p, reranking"
)
class Dalle(CaptionConditioned, GenerativeModel):
    """`sample(n, prompt=..., guidance_scale=3, top_k=..., rerank=k)` -> images in [0, 1]."""

    quick = Recipe(
        "captioned_digits",
        {"n_layer": 1, "d_model": 32, "n_head": 2},
        {"n": 128, "size": 16, "layouts": "single"},
        runs={
            "tokens_of": (
                "vqvae",
                Recipe(
                    "captioned_digits",
                    {"hidden": 8, "codebook_size": 16, "code_dim": 4, "downsamples": 2},
                    {"n": 128, "size": 16, "layouts": "single"},
                ),
            )
        },
    )

    Config = DalleConfig
    default_lr = 1e-3
    default_precision = "32-true"  # the frozen VQ-VAE's nearest-code search wants fp32

    def __init__(self, config: DalleConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        if not config.tokens_of:
            raise GenzooError("dalle needs tokens_of=RUN: the directory of a trained vqvae")
        if not 0.0 <= config.caption_dropout < 1.0:
            raise GenzooError(f"caption_dropout must be in [0, 1), got {config.caption_dropout}")
        from genzoo.hub import load

        vq = load(config.tokens_of)
        if not hasattr(vq, "grid") or not hasattr(vq, "codebook"):
            raise GenzooError(f"{config.tokens_of} holds a {vq.model_name!r}; dalle needs a vqvae run")
        vq.requires_grad_(False).eval()
        object.__setattr__(self, "vqvae", vq)  # not trained, not saved: reloaded from tokens_of
        self.grid = tuple(int(g) for g in vq.grid)
        self.codebook_size = int(vq.config.codebook_size)
        self.bos_image = config.text_vocab  # the token between caption and image
        self.image_offset = config.text_vocab + 1
        n_image = self.grid[0] * self.grid[1]
        vocab = max(self.image_offset + self.codebook_size, _GPT_MIN_VOCAB)
        self.gpt = DecoderLM(GPTConfig(vocab_size=vocab, context_length=config.text_length + 1 + n_image,
                                 n_layer=config.n_layer, n_head=config.n_head, d_model=config.d_model,
                                 dropout=config.dropout, positions="learned"))

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        return captioned_fields(info)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        self.vqvae._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def sequence(self, images: Tensor, ids: Tensor) -> Tensor:
        """[caption ; begin-image ; image tokens shifted into the GPT's vocabulary], (N, L + 1 + h*w)."""
        with torch.no_grad():
            tokens = self.vqvae.encode(images.to(self.device).float()).flatten(1)
        bos = torch.full((len(ids), 1), self.bos_image, dtype=torch.long, device=self.device)
        return torch.cat([ids.to(self.device), bos, tokens + self.image_offset], 1)

    def loss(self, batch: Any) -> dict[str, Tensor]:
        images, ids = batch
        ids = reword_captions(ids, self.caption_tokenizer) if self.config.reword_captions else ids.clone()
        ids = self.encode_captions(ids)
        drop = torch.rand(len(ids), device=ids.device) < self.config.caption_dropout
        ids[drop] = self.caption_tokenizer.null(int(drop.sum())).to(ids.device)
        seq = self.sequence(images, ids)
        start = self.config.text_length  # the logits at the begin-image position predict the first image token
        logits = self.gpt.forward_tokens(seq[:, :-1])[:, start:]
        lo = self.image_offset
        nats = F.cross_entropy(logits[..., lo : lo + self.codebook_size].float().flatten(0, 1),
                               (seq[:, start + 1 :] - lo).flatten())
        return {"loss": nats, "bits_per_token": nats.detach() / torch.log(torch.tensor(2.0))}

    def encode_captions(self, ids: Tensor) -> Tensor:
        """Caption ids as the GPT reads them: attribute slots with `caption_slots`, else the words."""
        return scene_slots(ids, self.caption_tokenizer) if self.config.caption_slots else ids

    @torch.no_grad()
    def generate_images(self, ids: Tensor, guidance_scale: float, seed: int | None, temperature: float | None = None,
                        top_k: int | None = None, top_p: float | None = None) -> Tensor:
        n = len(ids)
        ids = self.encode_captions(ids)
        bos = torch.full((n, 1), self.bos_image, dtype=torch.long)
        prompt = torch.cat([ids, bos], 1)
        null_prompt = torch.cat([self.caption_tokenizer.null(n), bos], 1)
        c = self.config
        config = GenerationConfig(max_new_tokens=self.grid[0] * self.grid[1], do_sample=True,
                                  temperature=c.temperature if temperature is None else temperature,
                                  top_k=c.top_k if top_k is None else top_k, top_p=c.top_p if top_p is None else top_p,
                                  guidance_scale=guidance_scale, seed=seed)
        out = generate(ImageTokens(self), prompt, config, unconditional=null_prompt)
        tokens = (out[:, prompt.shape[1] :] - self.image_offset).view(n, *self.grid)
        return self.vqvae.decode(tokens.to(self.device)).float().clamp(0, 1)
