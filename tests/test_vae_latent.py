"""VQ-VAE, semi-supervised M2, latent manipulation and learned compression (tiny configs, digits data)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import genzoo as gz
from genzoo.apps import compress as C
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.latent import (
    apply_attribute,
    decode_vectors,
    encode_vectors,
    interpolate,
    nearest_neighbours,
)
from genzoo.models.latent.vqvae import EMACodebook

TINY_VQ = dict(hidden=8, codebook_size=16, code_dim=4, downsamples=1)


def _train(model: torch.nn.Module, x: torch.Tensor, steps: int, lr: float = 1e-2) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr)
    losses = []
    for _ in range(steps):
        loss = model.loss((x, None))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def digits():
    return gz.data.load("digits", split="train")


@pytest.fixture(scope="module")
def vq_run(digits, tmp_path_factory):
    torch.manual_seed(0)
    model = gz.create("vqvae", data=digits, **TINY_VQ)
    losses = _train(model, digits.images[:256], 60)
    model.eval()
    path = tmp_path_factory.mktemp("vq") / "run"
    gz.save(model, path)
    return model, path, losses


def _mosaic(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    return torch.cat([torch.cat(list(images[r * cols : (r + 1) * cols]), 2) for r in range(rows)], 1)


# -- VQ-VAE ----------------------------------------------------------------------------------------
def test_straight_through_passes_gradients_to_encoder(digits):
    torch.manual_seed(0)
    model = gz.create("vqvae", data=digits, beta=0.0, prior_weight=0.0, **TINY_VQ)  # reconstruction term only
    model.loss((digits.images[:32], None))["loss"].backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert not any(b.requires_grad for b in model.codebook.buffers())  # the codebook moves by EMA only


def test_codebook_ema_update_uses_assigned_vectors():
    book = EMACodebook(size=3, dim=2, decay=0.5, restart_threshold=0.0)
    book.embed.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-50.0, 50.0]]))
    book.embed_sum.copy_(book.embed)
    book.cluster_size.fill_(1.0)
    book.initialised.fill_(True)
    flat = torch.tensor([[1.0, 1.0], [2.0, 2.0], [9.0, 11.0]])
    idx = book.assign(flat)
    assert idx.tolist() == [0, 0, 1]
    book.update(flat, idx)
    expected_size = torch.tensor([0.5 + 0.5 * 2, 0.5 + 0.5 * 1, 0.5])
    expected_sum = torch.tensor([[0.5 * 0 + 0.5 * 3, 0.5 * 0 + 0.5 * 3], [5 + 4.5, 5 + 5.5], [-25.0, 25.0]])
    assert torch.allclose(book.cluster_size, expected_size)
    assert torch.allclose(book.embed_sum, expected_sum)
    n = expected_size.sum()
    smoothed = (expected_size + 1e-5) / (n + 3e-5) * n
    assert torch.allclose(book.embed, expected_sum / smoothed[:, None], atol=1e-4)


def test_dead_codes_restart_on_batch_vectors():
    book = EMACodebook(size=2, dim=2, decay=0.9, restart_threshold=0.5)
    book.embed.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0]]))
    book.embed_sum.copy_(book.embed)
    book.cluster_size.fill_(0.5)
    book.initialised.fill_(True)
    flat = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    book.update(flat, book.assign(flat))  # code 1 gets nothing: its usage decays below the threshold
    assert any(torch.equal(book.embed[1], v) for v in flat)


def test_vqvae_learns_tokens_and_round_trips(vq_run, digits, tmp_path):
    model, path, losses = vq_run
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:5]) / 5
    x = digits.images[:16]
    tokens = model.encode_tokens(x)
    assert tokens.dtype == torch.long and tokens.shape == (16, *model.grid)
    assert int(tokens.min()) >= 0 and int(tokens.max()) < model.config.codebook_size
    with torch.no_grad():
        out = model.decode_tokens(tokens)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    stats = model.codebook_stats(digits.images[:256])
    assert stats["usage"] > 0.5 and stats["perplexity"] > 4
    loaded = gz.load(path)
    assert torch.equal(loaded.encode(x), tokens)
    torch.manual_seed(1)
    a = model.sample(4)
    torch.manual_seed(1)
    assert torch.equal(a, loaded.sample(4)) and a.shape == (4, 1, 8, 8)
    with pytest.raises(gz.GenzooError):
        model.decode(torch.zeros(2, 3, 3))


def test_prior_rate_beats_uniform_and_refits(vq_run, digits):
    model, _, _ = vq_run
    tokens = model.encode(digits.images[:128])
    bits = float(model.rate_bits(tokens).mean()) / math.prod(model.grid)
    assert bits < math.log2(model.config.codebook_size)
    refit = gz.create("vqvae", data=digits, **TINY_VQ)
    refit.load_state_dict(model.state_dict())
    after = refit.fit_prior(tokens, steps=100)
    assert after < bits
    assert float(model.codebook_stats(digits.images[:256])["mse"]) < float(digits.images[:256].var())


# -- M2 --------------------------------------------------------------------------------------------
def test_m2_unlabelled_loss_sums_over_classes():
    torch.manual_seed(0)
    model = gz.create("ssvae", image_shape=(1, 2, 2), num_classes=3, latent_dim=2, hidden=5)
    x = torch.rand(4, 1, 2, 2)
    eps = torch.randn(4, 2)
    got = model.unlabelled_loss(x, eps)
    q = torch.softmax(model.class_logits(x), 1)
    expected = torch.zeros(4)
    for c in range(3):  # U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)), by hand, one class at a time
        y = F.one_hot(torch.full((4,), c), 3).float()
        expected += q[:, c] * model.neg_elbo(x, y, eps)
    expected += (q * q.log()).sum(1)
    assert torch.allclose(got, expected, atol=1e-5)
    # with a confident classifier U(x) collapses to L(x, that class)
    with torch.no_grad():
        model.classifier[-1][-1].bias.copy_(torch.tensor([0.0, 50.0, 0.0]))
        model.classifier[-1][-1].weight.zero_()
    one = model.unlabelled_loss(x, eps)
    assert torch.allclose(
        one, model.neg_elbo(x, F.one_hot(torch.ones(4, dtype=torch.long), 3).float(), eps), atol=1e-3
    )


def test_m2_mixed_batch_trains_classifier(digits):
    torch.manual_seed(0)
    model = gz.create("ssvae", data=digits, hidden=32, latent_dim=4)
    y = digits.labels[:64].clone()
    y[32:] = -1
    parts = model.loss((digits.images[:64], y))
    assert {"labelled", "unlabelled", "class_ce"} <= set(parts)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(30):
        loss = model.loss((digits.images[:64], y))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (model.classify(digits.images[:32]).argmax(1) == digits.labels[:32]).float().mean()
    assert acc > 0.5
    assert model.sample(3, labels=2).shape == (3, 1, 8, 8)


def test_semisup_cli_refuses_bad_counts():
    assert main(["semisup", "--data", "digits", "--labels-per-class", "0"]) == 2
    assert main(["semisup", "--data", "digits", "--labels-per-class", "500"]) == 2
    assert main(["semisup", "--data", "faces-nonexistent"]) == 2


# -- latent manipulation ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vae", "vqvae"])
def test_interpolation_endpoints_reproduce_encoded_inputs(name, digits, vq_run):
    torch.manual_seed(0)
    model = vq_run[0] if name == "vqvae" else gz.create("vae", data=digits, hidden=8, latent_dim=4).eval()
    xa, xb = digits.images[0], digits.images[1]
    for spherical in (False, True):
        strip = interpolate(model, xa, xb, steps=5, spherical=spherical)
        recon = decode_vectors(model, encode_vectors(model, torch.stack([xa, xb])))
        assert strip.shape == (5, 1, 8, 8)
        assert torch.allclose(strip[0], recon[0], atol=1e-6) and torch.allclose(
            strip[-1], recon[1], atol=1e-6
        )


def test_attribute_vector_and_neighbours(vq_run, digits):
    model = vq_run[0]
    x = digits.images[:3]
    vec = torch.randn(encode_vectors(model, x).shape[1])
    edits = apply_attribute(model, x, vec, [0.0, 1.0])
    assert edits.shape == (6, 1, 8, 8)
    assert torch.allclose(edits[0::2], decode_vectors(model, encode_vectors(model, x)))
    idx, dist = nearest_neighbours(model, x, digits.images[:50], k=3)
    assert idx[:, 0].tolist() == [0, 1, 2] and bool((dist[:, 0] < 1e-2).all())


def test_morph_and_edit_cli(vq_run, tmp_path):
    _, path, _ = vq_run
    assert main(["morph", str(path), "--a", "0", "--b", "1", "-o", str(tmp_path / "m.png")]) == 0
    assert (
        main(
            [
                "edit",
                str(path),
                "--image",
                "2",
                "--attribute",
                "thick",
                "--strength",
                "1.5",
                "-o",
                str(tmp_path / "e.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "m.png").is_file() and (tmp_path / "e.png").is_file()
    assert (
        main(["edit", str(path), "--image", "2", "--attribute", "stripes", "-o", str(tmp_path / "x.png")])
        == 2
    )
    assert main(["morph", str(path), "--a", "99999", "--b", "1", "-o", str(tmp_path / "x.png")]) == 2


# -- compression -----------------------------------------------------------------------------------
def test_compress_round_trip_is_exact_and_size_matches_rate(vq_run, digits):
    model = vq_run[0]
    img = _mosaic(digits.images[:120], 10, 12)[:, :77, :93]  # ragged size: edge tiles are padded and cropped
    data = C.compress_image(model, img)
    back = C.decompress_bytes(model, data)
    assert back.shape == img.shape
    assert torch.equal(back, C.reconstruct(model, img))
    payload_bits = 8 * (len(data) - C.HEADER.size)
    rate = C.rate_estimate_bits(model, img)
    assert abs(payload_bits - rate) / rate < 0.03


def test_compress_cli_and_bad_files(vq_run, digits, tmp_path):
    _, path, _ = vq_run
    src = tmp_path / "in.png"
    src.write_bytes(C.image_bytes(_mosaic(digits.images[:16], 4, 4)))
    gzc, out = tmp_path / "x.gzc", tmp_path / "out.png"
    assert main(["compress", str(path), str(src), "-o", str(gzc)]) == 0
    assert main(["decompress", str(path), str(gzc), "-o", str(out)]) == 0
    model = gz.load(path)
    expected = C.reconstruct(model, C.read_image(src, 1))
    assert torch.equal(C.read_image(out, 1), expected)

    good = gzc.read_bytes()
    out.write_bytes(b"keep me")
    bad_cases = {
        "corrupt": good[:-3] + bytes([good[-3] ^ 0xFF]) + good[-2:],
        "magic": b"NOPE" + good[4:],
        "version": good[:4] + bytes([9]) + good[5:],
        "truncated": good[: C.HEADER.size + 2],
        "empty": b"",
    }
    for name, blob in bad_cases.items():
        p = tmp_path / f"{name}.gzc"
        p.write_bytes(blob)
        assert main(["decompress", str(path), str(p), "-o", str(out)]) == 2, name
        assert out.read_bytes() == b"keep me", name  # a failed decompress never clobbers the output
    with pytest.raises(gz.GenzooError, match="version 9"):
        C.decompress_bytes(model, bad_cases["version"])
    with pytest.raises(gz.GenzooError, match="different model"):
        other = gz.create("vqvae", data=digits, **TINY_VQ).eval()
        C.decompress_bytes(other, good)

    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("L", (C.MAX_SIDE + 1, 4)).save(big)
    assert main(["compress", str(path), str(big), "-o", str(gzc)]) == 2
    assert gzc.read_bytes() == good  # the earlier file is untouched
    assert main(["compress", str(path), str(tmp_path / "missing.png")]) == 2
    Path(tmp_path / "junk.png").write_bytes(b"not an image")
    assert main(["compress", str(path), str(tmp_path / "junk.png")]) == 2


def test_m1_m2_stack_trains_on_m1_features_and_reloads(digits, tmp_path):
    torch.manual_seed(0)
    m1 = gz.create("vae", data=digits, latent_dim=6, hidden=8)
    gz.save(m1, tmp_path / "m1")
    model = gz.create("ssvae", data=digits, hidden=32, latent_dim=4, m1_of=str(tmp_path / "m1"))
    assert model.feature_dim == 6 and not any(p is m1p for p in model.parameters() for m1p in m1.parameters())
    x, y = digits.images[:64], digits.labels[:64].clone()
    y[32:] = -1
    model.features(digits.images[:256])
    feats = model.features(x)
    assert feats.shape == (64, 6) and abs(float(feats.mean())) < 0.5
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = float(model.loss((x, y))["loss"].detach())
    for _ in range(40):
        loss = model.loss((x, y))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(model.loss((x, y))["loss"].detach()) < first
    assert model.sample(3, labels=1).shape == (3, 1, 8, 8)
    gz.save(model, tmp_path / "m12")
    again = gz.load(str(tmp_path / "m12"))
    assert torch.allclose(again.classify(x), model.classify(x), atol=1e-5)


def test_m1_of_without_vector_latent_is_refused(digits, tmp_path):
    made = gz.create("made", data=digits)
    gz.save(made, tmp_path / "made")
    with pytest.raises(GenzooError, match="vector latent"):
        gz.create("ssvae", data=digits, m1_of=str(tmp_path / "made"))
