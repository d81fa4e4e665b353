"""What a model can do, as declared, typed protocols.

Every model follows `GenerativeModel` (config, `loss`). Beyond that a model *declares* what it can do by
listing capabilities among its bases, e.g. ``class DDPM(GenerativeModel, Sampler, Inpainter)``; the
registry reads the declared capabilities off the class and, at registration, refuses a class that
declares one without implementing each of its methods. Applications never test a model's name, class or
attributes: they ask for a capability (``gz.load(run, needs=Inpainter)``) and get one clear line when the
run cannot do it. Structural checks (``isinstance(obj, Sampler)``) work too, for objects made outside genzoo.

A declaration is what counts (`can(model, Inpainter)`), not a method that happens to share a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class Capability(Protocol):
    """Base of every capability (no members of its own)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # A model lists capabilities among its bases, sometimes before its real base class (a mixin such as
        # text2image's CaptionConditioned). Protocol's own __init__ would end the super() chain there and
        # leave nn.Module uninitialised; forwarding keeps the chain going to GenerativeModel.
        super().__init__(*args, **kwargs)


@runtime_checkable
class Sampler(Capability, Protocol):
    """Draws new examples in data space: images in [0, 1], token ids, series paths, waveforms, clips."""

    def sample(self, n: int, **condition: Any) -> Tensor: ...


@runtime_checkable
class ClassConditional(Capability, Protocol):
    """Samples (and, with a likelihood, scores) given class labels: `sample(n, labels=...)`.

    `num_classes` is 0 for a run trained without labels (the capability is the class's, the labels the run's).
    """

    @property
    def num_classes(self) -> int: ...


@runtime_checkable
class Likelihood(Capability, Protocol):
    """log p(x) in nats per example: exact (flows, autoregressive) or a bound (VAE: importance weighted)."""

    def log_prob(self, x: Tensor, **condition: Any) -> Tensor: ...


@runtime_checkable
class LatentModel(Capability, Protocol):
    """A continuous latent space as flat vectors: what interpolation, attribute arithmetic, nearest
    neighbours and reconstruction scores need. `decode_latent(encode_latent(x))` reconstructs x."""

    def encode_latent(self, x: Tensor) -> Tensor: ...

    def decode_latent(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class NoiseGenerator(Capability, Protocol):
    """An implicit model's generator: given noise z (N, noise_dim) [and class labels] -> data, deterministic.
    `sample` draws the noise itself; this is the network alone, what a fixed-shape export (z -> image) needs
    (a GAN has no encoder, so it is not a `LatentModel`)."""

    @property
    def noise_dim(self) -> int: ...

    def decode_noise(self, z: Tensor, labels: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class Denoiser(Capability, Protocol):
    """A diffusion model: a network output at noise level t, and samplers made from its noise schedule."""

    def model_output(self, x: Tensor, t: Any, *condition: Any) -> Tensor: ...

    def make_scheduler(self, scheduler: Any = None, steps: int | None = None) -> Any: ...


@runtime_checkable
class Inpainter(Capability, Protocol):
    """Fills the pixels (or clip regions) where `mask` is 1, keeping the others exactly."""

    def inpaint(self, images: Tensor, mask: Tensor, **options: Any) -> Tensor: ...


@runtime_checkable
class Completer(Capability, Protocol):
    """Samples the unobserved part of an example given the observed part (`observed` True = given)."""

    def complete(self, x: Tensor, observed: Tensor, **options: Any) -> Tensor: ...


@runtime_checkable
class Upscaler(Capability, Protocol):
    """Super-resolution: (N, C, h, w) in [0, 1] -> (N, C, s*h, s*w)."""

    def upscale(self, lowres: Tensor, **options: Any) -> Tensor: ...


@runtime_checkable
class ImageToImage(Capability, Protocol):
    """Paired translation of an image (grey -> colour, edges -> photo): one source -> one image."""

    def translate(self, source: Tensor) -> Tensor: ...


@runtime_checkable
class Stylizer(Capability, Protocol):
    """Re-renders images in a learned style."""

    def stylize(self, images: Tensor) -> Tensor: ...


@runtime_checkable
class TextToImage(Capability, Protocol):
    """Images from a caption: `sample(n, prompt=..., guidance_scale=..., rerank=..., seed=...)`."""

    def caption_ids(self, prompt: str | list[str] | None, n: int) -> Tensor: ...


@runtime_checkable
class TokenModel(Capability, Protocol):
    """A causal language model with its tokenizer: continue a text prompt, all at once or streamed."""

    def generate_text(self, prompt: str, config: Any = None) -> str: ...

    def stream_text(self, prompt: str, config: Any = None) -> Iterator[str]: ...


@runtime_checkable
class TextToText(Capability, Protocol):
    """Sequence-to-sequence text: translation, summarisation."""

    def transform(self, texts: list[str], config: Any = None) -> list[str]: ...


@runtime_checkable
class QuestionAnswerer(Capability, Protocol):
    """Extractive question answering: the span of `context` that answers `question`."""

    def answer(self, question: str, context: str, max_answer_tokens: int = 30) -> str: ...


@runtime_checkable
class Forecaster(Capability, Protocol):
    """Probabilistic forecasts: `sample(n, history=..., horizon=..., start_phase=...)` sample paths."""

    def min_history(self) -> int: ...


@runtime_checkable
class Speaker(Capability, Protocol):
    """Text to speech: a waveform at `sample_rate`."""

    def speak(self, text: str, voice: str | None = None, pace: float = 1.0, iterations: int = 64) -> Tensor: ...


@runtime_checkable
class Composer(Capability, Protocol):
    """Music: `n` pieces of `bars` bars as note arrays (pitch, start, end in sixteenths), optionally primed."""

    def compose(self, n: int, bars: int, prime: Any = None, temperature: float = 1.0) -> list[Any]: ...


@runtime_checkable
class VideoPredictor(Capability, Protocol):
    """Clips: continue the given first frames by `predict` frames."""

    def predict(self, first_frames: Tensor, predict: int | None = None, **options: Any) -> Tensor: ...


@runtime_checkable
class Compressor(Capability, Protocol):
    """Discrete codes with a prior: what lossy compression with an entropy coder needs."""

    def encode_tokens(self, x: Tensor) -> Tensor: ...

    def decode_tokens(self, tokens: Tensor) -> Tensor: ...

    def prior_probs_at(self, position: int, left: Tensor, up: Tensor) -> Tensor: ...


@runtime_checkable
class Classifier(Capability, Protocol):
    """Class probabilities (N, K) for examples (semi-supervised models, fine-tuned encoders)."""

    def classify(self, x: Tensor) -> Tensor: ...


#: every capability, in the order `genzoo list` shows them
ALL: tuple[type[Capability], ...] = (
    Sampler, ClassConditional, Likelihood, LatentModel, NoiseGenerator, Denoiser, Inpainter, Completer, Upscaler,
    ImageToImage, Stylizer, TextToImage, TokenModel, TextToText, QuestionAnswerer, Forecaster, Speaker, Composer,
    VideoPredictor, Compressor, Classifier,
)


#: what each capability lets a model do, in words, for one-line errors ("cannot inpaint")
DOING: dict[type[Capability], str] = {
    Sampler: "sample",
    ClassConditional: "condition on class labels",
    Likelihood: "compute a likelihood",
    LatentModel: "encode to and decode from a latent space",
    NoiseGenerator: "generate from given noise (z -> data)",
    Denoiser: "denoise (diffusion)",
    Inpainter: "inpaint",
    Completer: "complete a partly observed example",
    Upscaler: "upscale images",
    ImageToImage: "translate images",
    Stylizer: "stylize images",
    TextToImage: "draw images from text",
    TokenModel: "generate text",
    TextToText: "transform text (translate, summarise)",
    QuestionAnswerer: "answer questions",
    Forecaster: "forecast a time series",
    Speaker: "speak",
    Composer: "compose music",
    VideoPredictor: "predict video frames",
    Compressor: "compress images",
    Classifier: "classify",
}


def can(model: Any, capability: type[Capability]) -> bool:
    """Whether `model` (an instance or class) *declares* `capability` among its bases."""
    cls = model if isinstance(model, type) else type(model)
    return capability in cls.__mro__


def members(capability: type[Capability]) -> list[str]:
    """The methods and properties a class must implement to declare `capability`."""
    names: list[str] = []
    for klass in capability.__mro__:
        if klass in (Capability, Protocol, object) or not issubclass(klass, Capability):
            continue
        names += [k for k, v in vars(klass).items() if not k.startswith("_")
                  and (callable(v) or isinstance(v, property))]
    return names


def declared(cls: type) -> tuple[type[Capability], ...]:
    """The capabilities `cls` lists among its bases (directly or through a parent), in `ALL` order."""
    return tuple(c for c in ALL if c in cls.__mro__)


def missing(cls: type, capability: type[Capability]) -> list[str]:
    """Members of `capability` that `cls` declares but does not implement (it would get the protocol's stub)."""
    out = []
    for name in members(capability):
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or owner in capability.__mro__:
            out.append(name)
    return out


def name_of(capability: type[Capability]) -> str:
    """The snake_case name `genzoo list` and error messages use (Sampler -> sampler)."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", capability.__name__).lower()
