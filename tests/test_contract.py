"""The contract every registered model keeps, checked model by model, so a break fails CI by name.

Each model is trained by its own `quick` recipe (create -> fit 2 steps on its smallest dataset), saved, loaded
back, and every capability it declares is exercised on its test split; then `genzoo sample` must write the
right kind of file and `genzoo eval` must compute its default metrics, both through the CLI.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import genzoo as gz
from genzoo import protocols as P
from genzoo.base import Recipe
from genzoo.cli import main
from genzoo.data.text_gettext import LOCALE_ROOT
from genzoo.registry import all_models, model_entry
from genzoo.sampling import SUFFIXES, default_suffix

NEEDS_ESPEAK = {"fastspeech", "wavenet"}
NEEDS_LOCALES = {"bert_classifier"}  # its quick recipe reads the system's gettext catalogs (fr, es)


def train_quick(name: str, recipe: Recipe, out: Path) -> Path:
    """Train `name` by `recipe` (and first the runs it builds on) into `out`."""
    options = dict(recipe.options)
    for field, (dependency, dep_recipe) in recipe.runs.items():
        options[field] = str(train_quick(dependency, dep_recipe, out.parent / f"{out.name}-{field}"))
    data = gz.data.load(recipe.data, split="train", **recipe.data_options)
    model = gz.create(name, data=data, **options)
    gz.fit(model, data, max_steps=2, batch_size=recipe.batch_size, out=out, progress=False)
    return out


def first_batch(model: Any, data: Any, n: int = 2) -> tuple[Any, Any]:
    """(examples, labels or None): a batch in the model's training format (what `log_prob` takes)."""
    view = model.training_data(data)
    batch = next(iter(DataLoader(view, batch_size=n, collate_fn=getattr(view, "collate", None))))
    if isinstance(batch, (list, tuple)):
        return batch[0], batch[1] if len(batch) > 1 else None
    return batch, None


def images_of(data: Any, n: int = 2) -> torch.Tensor:
    return (data.images if hasattr(data, "images") else torch.stack([data[i][0] for i in range(n)]))[:n].float()


def finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(torch.as_tensor(t).float()).all())


# -- one exercise per capability: real calls, real assertions -------------------------------------------------
def sampler(model: Any, data: Any) -> None:
    s = model.sample(2)
    assert len(s) == 2 and finite(s)


def class_conditional(model: Any, data: Any) -> None:
    if model.num_classes:
        s = model.sample(2, labels=torch.tensor([0, model.num_classes - 1]))
        assert len(s) == 2 and finite(s)


def noise_generator(model: Any, data: Any) -> None:
    z = torch.randn(2, model.noise_dim)
    conditional = P.can(model, P.ClassConditional) and model.num_classes
    labels = torch.tensor([0, 1]) % model.num_classes if conditional else None
    a, b = model.decode_noise(z, labels), model.decode_noise(z, labels)
    assert len(a) == 2 and finite(a) and torch.equal(a, b)  # the network alone: the same noise, the same data


def likelihood(model: Any, data: Any) -> None:
    x, labels = first_batch(model, data)
    conditional = P.can(model, P.ClassConditional) and model.num_classes
    lp = model.log_prob(x, labels=labels) if conditional else model.log_prob(x)
    assert lp.shape == (2,) and finite(lp)


def latent_model(model: Any, data: Any) -> None:
    x = images_of(data)
    z = model.encode_latent(x)
    assert z.ndim == 2 and len(z) == 2
    assert model.decode_latent(z).reshape(x.shape).shape == x.shape


def denoiser(model: Any, data: Any) -> None:
    sched = model.make_scheduler(None, 2)
    assert len(sched.timesteps) == 2


def inpainter(model: Any, data: Any) -> None:
    if data.info.kind == "video":
        clips = data.videos[:1].float()
        mask = torch.zeros(clips.shape[-2:])
        mask[: mask.shape[0] // 2] = 1
        out = model.inpaint(clips, mask, steps=2)
        assert out.shape == clips.shape
        keep = (mask == 0).expand_as(clips)
        assert torch.allclose(out.cpu()[keep], clips[keep], atol=1e-5)
        return
    x = images_of(data)
    mask = torch.zeros(1, 1, *x.shape[-2:])
    mask[..., : x.shape[-2] // 2, :] = 1
    out = model.inpaint(x, mask, steps=2)
    assert out.shape == x.shape
    assert torch.allclose(out.cpu()[..., x.shape[-2] // 2 :, :], x[..., x.shape[-2] // 2 :, :], atol=1e-5)


def completer(model: Any, data: Any) -> None:
    x = images_of(data)
    observed = torch.zeros_like(x, dtype=torch.bool)
    observed[..., : x.shape[-2] // 2, :] = True
    out = model.complete(x, observed)
    assert out.shape == x.shape and finite(out)
    assert torch.allclose(out.cpu()[observed], x[observed], atol=1 / 255 + 1e-6)


def upscaler(model: Any, data: Any) -> None:
    x = images_of(data)
    s = int(model.config.scale)
    up = model.upscale(x[..., ::s, ::s])
    assert up.shape == x.shape and finite(up)


def image_to_image(model: Any, data: Any) -> None:
    out = model.translate(data.source[:2])
    assert out.shape == data.target[:2].shape and finite(out)


def stylizer(model: Any, data: Any) -> None:
    x = images_of(data)
    assert model.stylize(x).shape == x.shape


def text_to_image(model: Any, data: Any) -> None:
    images = model.sample(2, prompt=data.captions[0])
    assert images.shape[1:] == data.images.shape[1:] and finite(images)


def token_model(model: Any, data: Any) -> None:
    from genzoo.generation import GenerationConfig

    config = GenerationConfig(max_new_tokens=4)
    assert isinstance(model.generate_text("The ", config), str)
    assert all(isinstance(piece, str) for piece in model.stream_text("The ", config))


def text_to_text(model: Any, data: Any) -> None:
    out = model.transform([data.pairs[0][0]])
    assert len(out) == 1 and isinstance(out[0], str)


def question_answerer(model: Any, data: Any) -> None:
    e = data.examples[0]
    assert model.answer(e.question, e.context) in e.context


def forecaster(model: Any, data: Any) -> None:
    history = data.series.values
    assert model.min_history() <= len(history)
    paths = model.sample(3, history=history, horizon=4)
    assert paths.shape == (3, 4) and finite(paths)


def speaker(model: Any, data: Any) -> None:
    audio = model.speak("one two")
    assert audio.ndim == 1 and len(audio) > 0 and finite(audio)


def composer(model: Any, data: Any) -> None:
    pieces = model.compose(2, 2)
    assert len(pieces) == 2
    for notes in pieces:
        assert notes.ndim == 2 and notes.shape[1] == 3
        assert len(notes) == 0 or int(notes[:, 2].max()) <= 2 * 16


def video_predictor(model: Any, data: Any) -> None:
    first = data.videos[:1, :, :2].float()
    out = model.predict(first, 2).cpu()
    assert out.shape[2] == 4 and torch.allclose(out[:, :, :2], first, atol=1e-5)


def compressor(model: Any, data: Any) -> None:
    x = images_of(data)
    tokens = model.encode_tokens(x)
    assert not tokens.dtype.is_floating_point
    assert model.decode_tokens(tokens).shape == x.shape


def classifier(model: Any, data: Any) -> None:
    p = model.classify(images_of(data))
    assert p.shape == (2, model.num_classes) and torch.allclose(p.sum(1), torch.ones(2), atol=1e-4)


EXERCISES = {c: globals()[P.name_of(c)] for c in P.ALL}


def test_every_capability_has_an_exercise_and_every_model_a_recipe():
    assert set(EXERCISES) == set(P.ALL)
    missing = [e.name for e in all_models() if e.cls.quick is None]
    assert not missing, f"models without a quick Recipe: {missing}"


def test_a_declared_capability_must_be_implemented():
    from genzoo.base import GenerativeModel
    from genzoo.registry import register_model

    class Half(GenerativeModel, P.Inpainter):
        pass

    Half.__module__ = "genzoo.models.toys.half"
    with pytest.raises(TypeError, match="declares Inpainter but does not implement inpaint"):
        register_model("half")(Half)


def test_a_model_must_live_in_a_file_named_after_it():
    from genzoo.base import GenerativeModel
    from genzoo.registry import register_model

    class Stray(GenerativeModel):
        pass

    Stray.__module__ = "genzoo.models.gan.gan"
    with pytest.raises(ValueError, match="must live in genzoo/models/<family>/stray.py"):
        register_model("stray")(Stray)


@pytest.mark.parametrize("name", [e.name for e in all_models()])
def test_model_keeps_the_contract(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if name in NEEDS_ESPEAK and shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian's espeak-ng (make test installs it where it can: apt-get install espeak-ng)")
    if name in NEEDS_LOCALES and not all((Path(LOCALE_ROOT) / lang).is_dir() for lang in ("fr", "es")):
        pytest.skip("needs French and Spanish gettext catalogs installed (any Debian with translations)")
    entry = model_entry(name)
    torch.manual_seed(0)
    run = train_quick(name, entry.cls.quick, tmp_path / name)
    model = gz.load(run)
    assert type(model) is entry.cls and model.model_name == name
    data = gz.data.load_like(model.data_info, "test")
    for capability in entry.capabilities:
        EXERCISES[capability](model, data)

    suffix = default_suffix(model)
    out = tmp_path / f"drawn{suffix}"
    assert main(["sample", str(run), "-n", "2", "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    assert any(suffix in s for s in SUFFIXES.values())

    capsys.readouterr()
    assert main(["eval", str(run), "-n", "8"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results and all(isinstance(v, float) and not math.isnan(v) for v in results.values()), results


def test_needs_refuses_a_run_that_cannot_in_one_line(tmp_path: Path) -> None:
    digits = gz.data.load("digits")
    gz.save(gz.create("vae", data=digits, hidden=8, latent_dim=4), tmp_path / "vae")
    with pytest.raises(gz.GenzooError, match=r"model 'vae', which cannot inpaint; models that can: .*ddpm"):
        gz.load(tmp_path / "vae", needs=P.Inpainter)
    assert isinstance(gz.load(tmp_path / "vae", needs=(P.Sampler, P.LatentModel)), gz.create("vae").__class__)


def test_eval_refuses_a_metric_that_does_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digits = gz.data.load("digits")
    gz.save(gz.create("vae", data=digits, hidden=8, latent_dim=4), tmp_path / "vae")
    assert main(["eval", str(tmp_path / "vae"), "--metrics", "bleu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metric 'bleu' does not fit model 'vae'" in err[0]
    assert main(["eval", str(tmp_path / "vae"), "--metrics", "blue"]) == 2
    assert "did you mean 'bleu'" in capsys.readouterr().err
