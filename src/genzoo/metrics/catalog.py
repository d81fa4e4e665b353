"""Every metric genzoo computes, by name, with what it needs (see `registry.py`).

Each entry is a thin adapter: it draws what the metric compares from the model (samples, forecasts,
translations, speech, ...) through a declared capability, and hands both sides to the function that does the
arithmetic (`fid.py`, `text.py`, `forecast.py`, `speech.py`, `video.py`, `music.py`, `restoration.py`, ...).
`ctx.n_samples` bounds how many samples are drawn or test examples are used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.metrics.registry import Context, register_metric
from genzoo.protocols import (
    ClassConditional,
    Classifier,
    Composer,
    Forecaster,
    ImageToImage,
    LatentModel,
    Likelihood,
    QuestionAnswerer,
    Sampler,
    Speaker,
    Stylizer,
    TextToImage,
    TextToText,
    TokenModel,
    Upscaler,
    VideoPredictor,
    can,
)

IMAGES = ("image",)


# -- helpers ----------------------------------------------------------------------------------------------
def real_images(data: Any, n: int) -> Tensor:
    """Up to n examples of an image dataset, (N, C, H, W)."""
    if hasattr(data, "images"):
        return data.images[:n]
    return torch.stack([data[i][0] for i in range(min(n, len(data)))])


@torch.no_grad()
def draw(model: Any, n: int, batch: int = 500) -> Tensor:
    """n samples; class-conditional runs draw the classes evenly so FID compares like with like."""
    k = model.num_classes if can(model, ClassConditional) else 0
    chunks = []
    for start in range(0, n, batch):
        m = min(batch, n - start)
        labels = {"labels": torch.arange(start, start + m) % k} if k else {}
        chunks.append(model.sample(m, **labels).float().cpu())
    return torch.cat(chunks)


def _train_split(data: Any, ctx: Context) -> Any:
    from genzoo.data import load_like

    return ctx.train_data if ctx.train_data is not None else load_like(data.info, "train")


def _sample_metrics(model: Any, data: Any, ctx: Context, which: tuple[str, ...]) -> dict[str, float]:
    from genzoo.metrics.fid import sample_metrics

    real = real_images(data, ctx.n_samples)
    return sample_metrics(real, draw(model, ctx.n_samples), data.info.name, _train_split(data, ctx), data,
                          which=which)


# -- likelihood ---------------------------------------------------------------------------------------------
@register_metric("nll", Likelihood, ("image", "vector", "audio", "music"), default=True)
def nll(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Negative log-likelihood in nats per example (exact or a bound), and bits per dimension."""
    from genzoo.metrics.likelihood import bits_per_dim, dataset_nll

    value = dataset_nll(model, data, **ctx.options)
    out = {"nll_nats": value}
    if data.info.shape:
        out["bits_per_dim"] = bits_per_dim(value, int(np.prod(data.info.shape)))
    return out


@register_metric("perplexity", TokenModel, ("text",), default=True)
def perplexity(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Next-token perplexity, nats per token and bits per character of a language model on held-out text."""
    from genzoo.metrics.text import stream_nll

    if not hasattr(data, "info") or "chars_per_token" not in data.info.extra:
        raise GenzooError(f"perplexity needs a token stream (e.g. pydoc), not {data.info.name!r}")
    return stream_nll(model, data, max_batches=max(1, ctx.n_samples // 32))


@register_metric("bits_per_char", Likelihood, ("text",), default=True, unless=TokenModel)
def bits_per_char(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Bits per character of a character-window density model (argmax flow) on held-out windows."""
    from genzoo.metrics.likelihood import dataset_nll

    if not data.info.shape:
        raise GenzooError(f"bits_per_char needs fixed-length character windows (e.g. pydoc_chars), "
                          f"not {data.info.name!r}")
    return {"bits_per_char": dataset_nll(model, data) / (data.info.shape[0] * math.log(2))}


# -- image samples ----------------------------------------------------------------------------------------
@register_metric("fid", Sampler, IMAGES, default=True)
def fid(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """FID on genzoo's per-dataset classifier features (comparable between models on one dataset)."""
    return _sample_metrics(model, data, ctx, ("fid",))


@register_metric("kid", Sampler, IMAGES)
def kid(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """KID on the same classifier features (unbiased at small sample counts)."""
    return _sample_metrics(model, data, ctx, ("kid",))


@register_metric("precision", Sampler, IMAGES)
def precision(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """k-NN precision and recall of samples against real images (Kynkaanniemi et al. 2019)."""
    return _sample_metrics(model, data, ctx, ("precision",))


@register_metric("recall", Sampler, IMAGES)
def recall(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """k-NN recall (and precision) of samples against real images."""
    return _sample_metrics(model, data, ctx, ("recall",))


@register_metric("fid_inception", Sampler, IMAGES)
def fid_inception(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """FID on torchmetrics' Inception-v3 features (needs torch-fidelity and its downloaded weights)."""
    from genzoo.metrics.fid import inception_fid

    return {"fid_inception": inception_fid(real_images(data, ctx.n_samples), draw(model, ctx.n_samples))}


@register_metric("caption_match", TextToImage, IMAGES, default=True)
def caption_match(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Share of images generated from held-out captions whose layout, digits and sizes all match the caption."""
    from genzoo.metrics import caption_match as cm

    if not getattr(data, "scenes", None):
        raise GenzooError(f"caption_match needs captioned_digits scenes, not {data.info.name!r}")
    n = min(ctx.n_samples, len(data), 64)
    images = torch.cat([model.sample(1, prompt=data.captions[i], seed=ctx.seed + i) for i in range(n)])
    return {"caption_match": cm.caption_match(cm.reader_for(images.shape[-1]), images, data.scenes[:n])}


@register_metric("reconstruction", LatentModel, IMAGES)
def reconstruction(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """PSNR of decode_latent(encode_latent(x)) on held-out images."""
    from genzoo.metrics.restoration import psnr

    x = real_images(data, ctx.n_samples)
    with torch.no_grad():
        rec = model.decode_latent(model.encode_latent(x)).float().cpu().view_as(x)
    return {"reconstruction_psnr": psnr(rec, x)}


@register_metric("accuracy", Classifier, (*IMAGES, "text"), default=True)
def accuracy(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Test accuracy of the model's own classifier (semi-supervised models, fine-tuned text encoders)."""
    x = real_images(data, ctx.n_samples)
    y = (torch.as_tensor(data.labels[: len(x)]) if hasattr(data, "labels")
         else torch.stack([data[i][1] for i in range(len(x))]))
    with torch.no_grad():
        pred = torch.cat([model.classify(c).argmax(1).cpu() for c in x.split(500)])
    return {"accuracy": float((pred == y).float().mean())}


# -- image to image ---------------------------------------------------------------------------------------
@register_metric("upscale_psnr", Upscaler, IMAGES, default=True)
def upscale_psnr(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """PSNR and SSIM of x-scale super-resolution of held-out images, beside bicubic's."""
    from genzoo.metrics.restoration import psnr, ssim
    from genzoo.nn.resample import bicubic_upscale, downscale

    x = real_images(data, min(ctx.n_samples, 64)).float()
    s = int(model.config.scale)
    low = downscale(x, s)
    with torch.no_grad():
        up = model.upscale(low).float().cpu()
    bic = bicubic_upscale(low, s).clamp(0, 1)
    return {"psnr": psnr(up, x), "ssim": ssim(up, x), "psnr_bicubic": psnr(bic, x), "ssim_bicubic": ssim(bic, x)}


@register_metric("translate_psnr", ImageToImage, ("paired_image",), default=True)
def translate_psnr(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """PSNR and SSIM of translated held-out sources against their targets."""
    from genzoo.metrics.restoration import psnr, ssim

    n = min(ctx.n_samples, len(data), 256)
    with torch.no_grad():
        out = torch.cat([model.translate(s).float().cpu() for s in data.source[:n].split(64)])
    target = data.target[:n]
    return {"psnr": psnr(out, target), "ssim": ssim(out, target)}


@register_metric("style_loss", Stylizer, IMAGES, default=True)
def style_loss(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """The style (Gram) and content losses of stylised held-out images, under the model's feature network."""
    x = real_images(data, min(ctx.n_samples, 32)).float()
    with torch.no_grad():
        parts = model.loss(x.to(model.device))
    return {"style_loss": float(parts["style"]), "content_loss": float(parts["content"])}


# -- text -------------------------------------------------------------------------------------------------
def _pairs(data: Any, n: int) -> list[tuple[str, str]]:
    pairs = getattr(data, "pairs", None)
    if not pairs:
        raise GenzooError(f"this metric needs (source, target) text pairs, not {data.info.name!r}")
    return list(pairs[:n])


def _transformed(model: Any, data: Any, ctx: Context) -> tuple[list[str], list[str]]:
    pairs = _pairs(data, min(ctx.n_samples, 200))
    return model.transform([s for s, _ in pairs]), [t for _, t in pairs]


@register_metric("bleu", TextToText, ("text",), default=True)
def bleu(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu) of the model's outputs for held-out sources."""
    import sacrebleu

    hyps, refs = _transformed(model, data, ctx)
    return {"bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
            "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score)}


@register_metric("rouge_l", TextToText, ("text",), default=True)
def rouge_l(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Mean ROUGE-L F-measure of the model's outputs for held-out sources."""
    from genzoo.metrics.text import rouge_l as score

    hyps, refs = _transformed(model, data, ctx)
    return {"rouge_l": score(hyps, refs)}


@register_metric("exact_match", QuestionAnswerer, ("text",), default=True)
def exact_match(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """SQuAD exact match and token F1 of extracted answers to held-out questions."""
    from genzoo.metrics.text import exact_match_f1

    examples = getattr(data, "examples", None)
    if not examples:
        raise GenzooError(f"exact_match needs question/context/answer examples, not {data.info.name!r}")
    examples = examples[: min(ctx.n_samples, 200)]
    predictions = [model.answer(e.question, e.context) for e in examples]
    return exact_match_f1(predictions, [e.answer for e in examples])


# -- sequences --------------------------------------------------------------------------------------------
@register_metric("forecast", Forecaster, ("series",), default=True)
def forecast(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """MASE, sMAPE, CRPS and 80% coverage of sample-path forecasts of the held-out end of the series."""
    from genzoo.metrics.forecast import score

    series = data.series
    trained = int((model.data_info.extra if model.data_info else {}).get("length", 0) or 0)
    if not 0 < trained < len(series):  # no held-out end recorded: hold out the model's own horizon
        trained = len(series) - int(model.config.prediction_length)
    horizon = min(len(series) - trained, int(model.config.prediction_length))
    history, truth = series.values[:trained], series.values[trained : trained + horizon]
    paths = model.sample(min(ctx.n_samples, 500), history=history, horizon=horizon,
                         start_phase=series.start_phase()).numpy()
    return score(truth, paths, history, series.season_length)


@register_metric("pitch_class_kl", Composer, ("music",), default=True)
def pitch_class_kl(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """KL of the held-out pieces' pitch-class histogram from the generated one, beside the unigram event
    sampler's (the baseline, fit on the train split) and the density/polyphony gaps.

    Up to 64 pieces: each piece keeps to one key, so the histogram of 8 pieces is that of a few keys (8 real
    excerpts scored 0.01-0.12 nats from the held-out pieces) and a model lost to the keyless unigram by the luck
    of its draws (benchmarks/results/music_corpus.json)."""
    from genzoo.data.music import bar_steps
    from genzoo.metrics.music import music_stats, pitch_class_kl, stats_distance, unigram_pieces

    n, bars = min(ctx.n_samples, 64), 8
    pieces = model.compose(n, bars)
    fake, real = music_stats(pieces), music_stats([notes for _, notes in data.pieces])
    train = [notes for _, notes in getattr(_train_split(data, ctx), "pieces", data.pieces)]
    unigram = music_stats(unigram_pieces(train, n, bars * bar_steps(data.info), seed=ctx.seed,
                                         longest=(data.info.extra or {}).get("max_note_steps")))
    return {"pitch_class_kl": pitch_class_kl(fake, real), "unigram_pitch_class_kl": pitch_class_kl(unigram, real),
            **stats_distance(fake, real)}


@register_metric("frame_prediction", VideoPredictor, ("video",), default=True)
def frame_prediction(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """MSE of the second half of held-out clips predicted from their first half, beside copying the last frame."""
    from genzoo.metrics.video import prediction_mse

    real = data.videos[: min(ctx.n_samples, 32)].float()
    given = real.shape[2] // 2
    with torch.no_grad():
        pred = model.predict(real[:, :, :given].to(model.device), real.shape[2] - given).float().cpu()
    copy = torch.cat([real[:, :, :given], real[:, :, given - 1 : given].expand_as(real[:, :, given:])], 2)
    return {"prediction_mse": prediction_mse(pred, real, given), "copy_last_mse": prediction_mse(copy, real, given)}


@register_metric("mcd", Speaker, ("audio",), default=True)
def mcd(model: Any, data: Any, ctx: Context) -> dict[str, float]:
    """Mel-cepstral distortion (dB) of speech for held-out texts against the recorded reference."""
    from genzoo.metrics.speech import mcd as distortion

    texts = getattr(data, "texts", None)
    if not texts:
        raise GenzooError(f"mcd needs a speech corpus with texts, not {data.info.name!r}")
    values = []
    for i in range(min(ctx.n_samples, len(data), 16)):
        audio, text, voice = data[i]
        values.append(distortion(audio, model.speak(text, voice).numpy()))
    return {"mcd_db": float(np.mean(values))}
