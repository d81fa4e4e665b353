"""`genzoo sample`: draw what a run can make and write it as what the data is.

Images become a PNG grid (or a .npy array), text a .txt, speech and audio a .wav, music a .mid, forecasts a
.csv of quantiles with a plot beside it, clips a .gif (or .mp4), vectors a .csv (a scatter .png for 2-D data).
Models that transform an input rather than draw from noise (super-resolution, image-to-image, style,
translation, question answering, deterministic frame prediction) are shown on examples of their own test
split. Which path a run takes is decided by its declared capabilities and its data's kind, never by its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import GenzooError
from genzoo.protocols import (
    ClassConditional,
    Classifier,
    Composer,
    Forecaster,
    ImageToImage,
    QuestionAnswerer,
    Sampler,
    Speaker,
    Stylizer,
    TextToText,
    TokenModel,
    Upscaler,
    VideoPredictor,
    can,
)

#: what each kind of output is written as; the first suffix is the default
SUFFIXES: dict[str, tuple[str, ...]] = {
    "images": (".png", ".npy"),
    "text": (".txt",),
    "audio": (".wav",),
    "music": (".mid",),
    "series": (".csv",),
    "video": (".gif", ".mp4"),
    "vectors": (".csv", ".npy", ".png"),
}


@dataclass
class Drawn:
    """What a run made: `kind` (a key of SUFFIXES), the value, and what writing it needs (rates, grids)."""

    kind: str
    value: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _test_split(model: Any) -> Any:
    from genzoo.data import load_like

    return load_like(model.data_info, "test")


def _test_images(model: Any, n: int) -> torch.Tensor:
    data = _test_split(model)
    images = data.images if hasattr(data, "images") else torch.stack([data[i][0] for i in range(min(n, len(data)))])
    return images[:n].float()


def draw(model: Any, n: int, label: int | None = None, **options: Any) -> Drawn:
    """Draw `n` of whatever the run makes (options go to the model's sampler)."""
    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    kind = model.data_info.kind if model.data_info is not None else None
    if label is not None:
        if not can(model, ClassConditional) or not model.num_classes:
            raise GenzooError(f"--label needs a class-conditional run; {model.model_name!r} was trained without labels")
        if not 0 <= label < model.num_classes:
            raise GenzooError(f"--label must be a class in [0, {model.num_classes}), got {label}")
        options["labels"] = torch.full((n,), label)
    with torch.no_grad():
        if can(model, Composer):
            return Drawn("music", model.compose(n, int(options.pop("bars", 8)), **options))
        if can(model, Forecaster):
            return _forecast(model, n, **options)
        if can(model, Speaker):
            return Drawn("audio", model.sample(n, **options), {"rate": int(model.config.sample_rate)})
        if can(model, TokenModel):
            return Drawn("text", [model.tokenizer.decode([int(t) for t in row]) for row in model.sample(n, **options)])
        if can(model, TextToText):
            sources = [s for s, _ in _test_split(model).pairs[:n]]
            return Drawn("text", [f"{s}\t{t}" for s, t in zip(sources, model.transform(sources), strict=True)])
        if can(model, Classifier) and kind == "text":
            data = _test_split(model)
            ids = torch.stack([data[i][0] for i in range(min(n, len(data)))])
            names = model.data_info.classes
            predicted = model.classify(ids).argmax(1)
            return Drawn("text", [f"{t}\t{names[int(k)]}" for t, k in zip(data.texts, predicted, strict=False)])
        if can(model, QuestionAnswerer):
            examples = _test_split(model).examples[:n]
            return Drawn("text", [f"{e.question}\t{model.answer(e.question, e.context)}" for e in examples])
        if can(model, Upscaler):
            from genzoo.nn.resample import bicubic_upscale, downscale

            hr = _test_images(model, n)
            s = int(model.config.scale)
            low = downscale(hr, s)
            up = model.upscale(low, **options).float().cpu()
            return Drawn("images", torch.cat([bicubic_upscale(low, s).clamp(0, 1), up, hr]), {"nrow": len(hr)})
        if can(model, ImageToImage):
            data = _test_split(model)
            source, target = data.source[:n], data.target[:n]
            out = model.translate(source).float().cpu()
            grey = source.expand(-1, target.shape[1], -1, -1) if source.shape[1] == 1 else source[:, :3]
            return Drawn("images", torch.cat([grey, out, target]), {"nrow": len(source)})
        if can(model, Stylizer):
            x = _test_images(model, n)
            return Drawn("images", torch.cat([x, model.stylize(x).float().cpu()]), {"nrow": len(x)})
        if can(model, VideoPredictor) and not can(model, Sampler):
            clips = _test_split(model).videos[:n].float()
            given = clips.shape[2] // 2
            predicted = model.predict(clips[:, :, :given].to(model.device), clips.shape[2] - given).float().cpu()
            return Drawn("video", torch.cat([clips, predicted], dim=-2))  # real clip above, its prediction below
        if not can(model, Sampler):
            raise GenzooError(f"model {model.model_name!r} has nothing to sample")
        try:
            out = model.sample(n, **options)
        except TypeError as e:
            raise GenzooError(f"model {model.model_name!r} does not take these sampler options ({e})") from None
    if kind == "video":
        return Drawn("video", out.float().cpu())
    if kind == "audio":
        return Drawn("audio", out.float().cpu(), {"rate": int(model.data_info.extra.get("sample_rate", 16000))})
    if kind == "text":
        vocab = model.data_info.extra.get("vocab", "")
        return Drawn("text", ["".join(vocab[int(c)] for c in row if int(c) < len(vocab)) for row in out])
    if kind == "vector":
        return Drawn("vectors", out.float().cpu())
    return Drawn("images", out.float().cpu())


def _forecast(model: Any, n: int, horizon: int | None = None, **_: Any) -> Drawn:
    series = _test_split(model).series
    horizon = int(horizon or model.config.prediction_length)
    paths = model.sample(max(n, 100), history=series.values, horizon=horizon, start_phase=series.start_phase())
    return Drawn("series", paths.numpy(), {"series": series})


def write(drawn: Drawn, path: str | Path, scale: int = 2) -> list[Path]:
    """Write `drawn` to `path` (its suffix must suit the kind); returns the files written."""
    path = Path(path)
    allowed = SUFFIXES[drawn.kind]
    if path.suffix.lower() not in allowed:
        raise GenzooError(f"this run makes {drawn.kind}; write it to a {' or '.join(allowed)} file, "
                          f"not {path.name!r}")
    if path.is_dir():
        raise GenzooError(f"output {path} is a directory; name a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if drawn.kind == "images" and suffix == ".png":
        from genzoo.viz import save_grid

        save_grid(drawn.value, path, nrow=drawn.extra.get("nrow"), scale=scale)
    elif suffix == ".npy":
        import numpy as np

        np.save(path, drawn.value.numpy())
    elif drawn.kind == "text":
        path.write_text("\n".join(drawn.value) + "\n", encoding="utf-8")
    elif drawn.kind == "audio":
        import soundfile as sf

        rate = drawn.extra["rate"]
        gap = torch.zeros(len(drawn.value), rate // 4)
        sf.write(path, torch.cat([drawn.value, gap], 1).flatten().clamp(-1, 1).numpy(), rate, subtype="PCM_16")
    elif drawn.kind == "music":
        from genzoo.data.music import STEPS_PER_BAR, concatenate, write_midi

        write_midi(concatenate(drawn.value, gap=STEPS_PER_BAR), path)
    elif drawn.kind == "series":
        from genzoo.apps.forecast import plot, write_quantiles

        write_quantiles(path, drawn.extra["series"], drawn.value)
        picture = path.with_suffix(".png")
        plot(picture, drawn.extra["series"], drawn.value)
        return [path, picture]
    elif drawn.kind == "video":
        from genzoo.data.video import write_clip

        write_clip(drawn.value, path, scale=scale)
    elif drawn.kind == "vectors" and suffix == ".png":
        _scatter(drawn.value, path)
    else:  # vectors as CSV
        import numpy as np

        np.savetxt(path, drawn.value.numpy(), delimiter=",", fmt="%.6g")
    return [path]


def _scatter(points: torch.Tensor, path: Path) -> None:
    if points.shape[1] != 2:
        raise GenzooError(f"a scatter plot needs 2-D samples; these have {points.shape[1]} dimensions (use .csv)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(points[:, 0], points[:, 1], s=2)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def default_suffix(model: Any) -> str:
    """The file type `genzoo sample` writes for this run when `--output` is not given."""
    kind = model.data_info.kind if model.data_info is not None else "image"
    if can(model, Composer):
        return ".mid"
    if can(model, Forecaster):
        return ".csv"
    if can(model, Speaker) or kind == "audio":
        return ".wav"
    if any(can(model, c) for c in (TokenModel, TextToText, QuestionAnswerer)) or kind == "text":
        return ".txt"
    return {"video": ".gif", "vector": ".csv"}.get(kind, ".png")
