"""Text-to-image: captioned canvases, the reading classifier, dalle / t2i_diffusion / t2i_ldm, `genzoo imagine`."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo as gz
from genzoo.cli import main
from genzoo.data import captions as cap
from genzoo.errors import GenzooError
from genzoo.metrics import caption_match as cm


# -- data ---------------------------------------------------------------------------------------------------
def test_canvases_are_deterministic_and_held_out_combos_are_disjoint():
    a = gz.data.load("captioned_digits", n=300, seed=3)
    b = gz.data.load("captioned_digits", n=300, seed=3)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert a.images.shape == (300, 1, 32, 32) and 0 <= float(a.images.min()) and float(a.images.max()) <= 1
    assert not any(s.held_out for s in a.scenes)
    held = gz.data.load("captioned_digits", split="test", n=200, combos="held_out")
    assert all(s.held_out for s in held.scenes)
    # every held-out triple's digit, size and position each occur in seen combinations
    for d, s, p in cap.HELD_OUT:
        assert any(t[0] == d for t in set().union(*[sc.triples() for sc in a.scenes]) if t not in cap.HELD_OUT)
        assert (d, 1 - s, p) not in cap.HELD_OUT
    image, ids = a[0]
    assert ids.shape == (12,) and a.tokenizer.decode(ids).replace(" ", "") == a.captions[0].replace(" ", "")


def test_caption_grammar_round_trips_and_tokenizer_warns():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = cap.random_scene(rng, cap.LAYOUTS, "all")
        for variant in range(3):
            assert cap.parse_caption(scene.caption(variant)) == scene
    assert cap.parse_caption("a small 7 to the right of a large 3") == cap.Scene("row", (3, 7), (0, 1))
    assert cap.parse_caption("a purple cow") is None
    tok = cap.CaptionTokenizer()
    with pytest.warns(UserWarning, match=r"unknown words \['huge'\]"):
        ids = tok.encode("a huge 3")
    assert ids[:3] == [tok.index["a"], cap.UNK, tok.index["3"]]
    with pytest.raises(GenzooError, match="caption is empty"):
        tok.encode("   ")
    with pytest.raises(GenzooError, match="unknown layouts"):
        gz.data.load("captioned_digits", layouts="diagonal")


def test_captioned_folder_and_flickr8k_format(tmp_path, monkeypatch):
    for i in range(6):
        Image.fromarray(np.full((20, 24, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"im{i}.png")
        (tmp_path / f"im{i}.txt").write_text(f"A grey square number {i}\n")
    ds = gz.data.load("captioned_folder", split="all", path=str(tmp_path), size=16)
    assert ds.images.shape == (6, 1, 16, 16) and ds.captions[0] == "A grey square number 0"
    assert cap.UNK not in ds.tokens.flatten().tolist()
    train = gz.data.load("captioned_folder", path=str(tmp_path))
    test = gz.data.load("captioned_folder", split="test", path=str(tmp_path))
    assert len(train) + len(test) == 6 and train.info.extra["tokenizer"] == test.info.extra["tokenizer"]
    (tmp_path / "im5.txt").write_text("")
    with pytest.raises(GenzooError, match="caption file of im5.png is empty"):
        gz.data.load("captioned_folder", path=str(tmp_path))

    # Flickr8k's real layout, in miniature: a token file, split lists, Flicker8k_Dataset/*.jpg
    text_zip, image_zip = tmp_path / "text.zip", tmp_path / "images.zip"
    with zipfile.ZipFile(text_zip, "w") as z:
        z.writestr("Flickr8k.token.txt", "a.jpg#0\tA dog runs .\na.jpg#1\tA brown dog .\nb.jpg#0\tTwo kids play .\n")
        z.writestr("Flickr_8k.trainImages.txt", "a.jpg\n")
        z.writestr("Flickr_8k.testImages.txt", "b.jpg\n")
    with zipfile.ZipFile(image_zip, "w") as z:
        for name in ("a.jpg", "b.jpg"):
            buf = io.BytesIO()
            Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(buf, format="JPEG")
            z.writestr(f"Flicker8k_Dataset/{name}", buf.getvalue())
    images, captions, vocab = cap.read_flickr8k(text_zip, image_zip, "test", None, 8, 3)
    assert images.shape == (1, 3, 8, 8) and captions == ["Two kids play ."] and len(vocab) == 2
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cap, "_FLICKR_BASE", "http://127.0.0.1:9/")
    with pytest.raises(GenzooError, match="could not download Flickr8k_text.zip.*offline"):
        gz.data.load("flickr8k")


def test_reworded_captions_keep_their_scene_and_vary_the_wording():
    from genzoo.models.text2image.common import reword_captions

    tok = cap.CaptionTokenizer()
    captions = ["a small 7 to the right of a large 3", "two small 4s side by side", "a large 9"]
    ids = torch.cat([tok.batch(captions), tok.null(1)])
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        out = reword_captions(ids, tok)
        assert [cap.parse_caption(tok.decode(r)) for r in out[:3]] == [cap.parse_caption(c) for c in captions]
        assert torch.equal(out[2:], ids[2:])  # one wording only; the empty caption stays empty
        seen.add(tok.decode(out[0]))
    assert seen == {"a small 7 to the right of a large 3", "a large 3 to the left of a small 7"}


def test_scene_slots_give_every_wording_of_a_scene_one_prefix():
    from genzoo.models.text2image.dalle import scene_slots

    tok = cap.CaptionTokenizer()
    same = ["a small 7 to the right of a large 3", "a large 3 to the left of a small 7"]
    stacked = ["two small 4s on top of each other", "a small 4 below a small 4"]
    ids = torch.cat([tok.batch([*same, *stacked, "a large 9", "a large cow"], warn=False), tok.null(1)])
    out = scene_slots(ids, tok)
    assert tok.decode(out[0]) == "side large 3 small 7" and torch.equal(out[0], out[1])
    assert tok.decode(out[2]) == "top small 4 small 4" and torch.equal(out[2], out[3])
    assert tok.decode(out[4]) == "a large 9"
    assert not torch.equal(out[0], scene_slots(tok.batch(["a large 7 to the left of a small 3"]), tok)[0])
    assert torch.equal(out[5:], ids[5:])  # outside the grammar, and the empty caption: unchanged
    other = cap.CaptionTokenizer((*cap.SPECIAL_WORDS, "a", "large", "3"), 4)  # a vocabulary without slot words
    assert torch.equal(scene_slots(other.batch(["a large 3"]), other), other.batch(["a large 3"]))


# -- the reading classifier ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reader():
    return cm.reader_for(32)


def test_reader_agrees_with_caption_generator_on_real_canvases(reader):
    test = gz.data.load("captioned_digits", split="test", n=1000, combos="all", seed=7)  # test digits
    assert cm.caption_match(reader, test.images, test.scenes) > 0.95
    wrong = [cap.Scene("row", s.digits[::-1], s.sizes[::-1]) if s.layout == "row" else s for s in test.scenes]
    assert cm.caption_match(reader, test.images, wrong) < 0.8  # order matters: it reads left from right


# -- models -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def singles():
    """One-digit canvases at 16 px: the cheapest setting where "which digit" is a real question."""
    return gz.data.load("captioned_digits", n=1500, size=16, layouts="single")


@pytest.fixture(scope="module")
def vq_run(singles, tmp_path_factory):
    out = tmp_path_factory.mktemp("vq")
    vq = gz.create("vqvae", data=singles, hidden=32, codebook_size=32, code_dim=8)
    gz.fit(vq, singles, max_steps=300, batch_size=32, progress=False, out=out)
    return str(out)


@pytest.fixture(scope="module")
def dalle(singles, vq_run):
    model = gz.create("dalle", data=singles, tokens_of=vq_run, n_layer=2, d_model=64)
    with torch.no_grad():
        before = float(model.loss(next(iter(torch.utils.data.DataLoader(singles, batch_size=256))))["loss"])
    gz.fit(model, singles, max_steps=500, batch_size=32, lr=2e-3, progress=False)
    model.loss_before = before
    return model


def test_dalle_learns_which_digit_the_caption_names(dalle, singles, reader):
    batch = next(iter(torch.utils.data.DataLoader(singles, batch_size=256)))
    with torch.no_grad():
        assert float(dalle.loss(batch)["loss"]) < dalle.loss_before - 0.5
    digits = list(range(10)) * 6  # 60 draws: the hit rate's spread is ~0.06, so 0.25 is far above chance
    x = dalle.sample(60, prompt=[f"a large {d}" for d in digits], guidance_scale=3.0, seed=0)
    assert x.shape == (60, 1, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    read = cm.read_scenes(reader, x)  # the reader normalises each digit's size, so it reads 16-px canvases too
    hits = np.mean([r.digits[0] == d for r, d in zip(read, digits)])
    assert hits > 0.25, hits  # chance is 0.1


def test_guidance_changes_samples_and_save_load_reproduces(dalle, vq_run, tmp_path):
    a = dalle.sample(6, prompt="a large 3", guidance_scale=0.0, seed=1)
    b = dalle.sample(6, prompt="a large 3", guidance_scale=3.0, seed=1)
    assert not torch.equal(a, b)
    assert torch.equal(b, dalle.sample(6, prompt="a large 3", guidance_scale=3.0, seed=1))
    gz.save(dalle, tmp_path / "dalle")
    again = gz.load(tmp_path / "dalle")
    kw = {"prompt": "a large 3", "seed": 1, "top_k": 8}
    assert torch.equal(again.sample(6, **kw), dalle.sample(6, **kw))
    assert again.config.caption_slots is True


def test_a_dalle_saved_before_caption_slots_loads_with_word_prefixes(dalle, tmp_path):
    """A run saved before the option existed was trained on word prefixes: it must not read slots."""
    gz.save(dalle, tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    del meta["config"]["caption_slots"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    assert gz.load(tmp_path / "old").config.caption_slots is False


def test_reranking_keeps_better_read_candidates(dalle, reader):
    prompts = [f"a large {d}" for d in range(10)]
    scenes = [cap.parse_caption(p) for p in prompts]
    plain = dalle.sample(10, prompt=prompts, seed=2)
    best = dalle.sample(10, prompt=prompts, seed=2, rerank=4)
    assert best.shape == plain.shape
    assert float(cm.scene_log_prob(reader, best, scenes).mean()) > float(
        cm.scene_log_prob(reader, plain, scenes).mean())
    with pytest.raises(GenzooError, match="reranking reads captioned_digits scenes"), pytest.warns(UserWarning):
        dalle.sample(2, prompt="a purple cow", rerank=2)


@pytest.mark.parametrize("name", ["t2i_diffusion", "t2i_ldm"])
def test_diffusion_kinds_train_guide_and_reload(name, singles, vq_run, tmp_path):
    extra = {"latent_of": vq_run} if name == "t2i_ldm" else {"base_channels": 16, "channel_mults": (1, 2)}
    model = gz.create(name, data=singles, **extra)
    batch = next(iter(torch.utils.data.DataLoader(singles, batch_size=64)))
    with torch.no_grad():
        torch.manual_seed(0)
        before = float(model.loss(batch)["loss"])
    gz.fit(model, singles, max_steps=30, batch_size=32, ema=0, progress=False)
    with torch.no_grad():
        torch.manual_seed(0)
        assert float(model.loss(batch)["loss"]) < before
    # guidance moves the denoiser's prediction (t2i_ldm's samples may still agree: decoding snaps latents to codes)
    x = torch.randn(4, *model.config.image_shape)
    cond, null = model.text(model.caption_ids("a large 7", 4)), model.text(model.caption_tokenizer.null(4))
    unguided, guided = (model.model_output(x, 500, cond, null, w) for w in (0.0, 3.0))
    assert not torch.allclose(unguided, guided)
    a = model.sample(4, prompt="a large 7", guidance_scale=0.0, steps=4, seed=0)
    b = model.sample(4, prompt="a large 7", guidance_scale=3.0, steps=4, seed=0)
    assert a.shape == (4, 1, 16, 16) and 0 <= float(b.min()) and float(b.max()) <= 1
    if name == "t2i_diffusion":
        assert not torch.equal(a, b)
    gz.save(model, tmp_path / name)
    again = gz.load(tmp_path / name)
    kw = {"prompt": "a large 7", "steps": 4, "seed": 0}
    assert torch.allclose(again.sample(4, **kw), model.sample(4, **kw))


def test_models_refuse_bad_input(singles, vq_run):
    with pytest.raises(GenzooError, match="need captioned data"):
        gz.create("t2i_diffusion", data=gz.data.load("digits"))
    with pytest.raises(GenzooError, match="dalle needs tokens_of=RUN"):
        gz.create("dalle", data=singles)
    with pytest.raises(GenzooError, match="t2i_ldm needs latent_of=RUN"):
        gz.create("t2i_ldm", data=singles)


# -- CLI ----------------------------------------------------------------------------------------------------
def test_imagine_cli(dalle, tmp_path, capsys):
    gz.save(dalle, tmp_path / "run")
    out = tmp_path / "grid.png"
    run = str(tmp_path / "run")
    assert main(["imagine", run, "a large 3", "-n", "4", "-o", str(out), "--guidance", "2"]) in (0, None)
    assert Image.open(out).size[0] > 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI reports unknown words on one line of its own, not as a warning
        assert main(["imagine", str(tmp_path / "run"), "a huge 3", "-n", "1", "-o", str(out)]) in (0, None)
    assert "genzoo: warning: unknown words ['huge']" in capsys.readouterr().err
    assert main(["imagine", str(tmp_path / "run"), "  ", "-o", str(out)]) == 2
    assert "the prompt is empty" in capsys.readouterr().err
    assert main(["imagine", str(tmp_path / "run"), "a large 3", "-n", "0"]) == 2
    assert main(["imagine", str(tmp_path / "nowhere"), "a large 3"]) == 2
