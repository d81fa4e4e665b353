"""Flows: exact inverses, log-determinants against brute-force Jacobians, learning, bits/dim, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

import genzoo as gz
from genzoo.cli import main
from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError
from genzoo.metrics.likelihood import bits_per_dim
from genzoo.models.flows import layers, transforms
from genzoo.models.flows.dequantization import VariationalDequantizer
from genzoo.models.flows.transforms import rq_spline


class _Data:
    def __init__(self, info: DataInfo) -> None:
        self.info = info


def _model(name: str, shape: tuple[int, ...], **kw):
    kind = "vector" if len(shape) == 1 else "image"
    info = DataInfo("t", kind, shape, None, None, {"levels": 17} if kind == "image" else {})
    return gz.create(name, data=_Data(info), **kw)


def _perturb(module: torch.nn.Module, scale: float = 0.2) -> None:
    """Move every parameter off its identity initialisation so the checks mean something."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def _check_logdet(layer: layers.FlowLayer, x: torch.Tensor, context: torch.Tensor | None = None) -> None:
    """log|det J| of the layer, example by example, against torch.autograd's full Jacobian."""
    layer.eval()
    z, logdet = layer(x, context)
    for i in range(len(x)):
        ctx = None if context is None else context[i : i + 1]

        def f(v, ctx=ctx):
            return layer(v.view(1, *x.shape[1:]), ctx)[0].flatten()

        jac = jacobian(f, x[i].flatten().clone()).double()
        assert torch.allclose(logdet[i].double(), torch.linalg.slogdet(jac)[1], atol=1e-3), (type(layer), i)
    assert torch.allclose(layer.inverse(z, context), x, atol=1e-4)


VECTOR_LAYERS = {
    "affine coupling": lambda: layers.VectorCoupling(5, (16,), "affine", context_dim=3),
    "spline coupling": lambda: layers.VectorCoupling(5, (16,), "spline", flip=True, context_dim=3, bound=2.0),
    "maf": lambda: layers.Autoregressive(5, (16, 16), "affine", context_dim=3),
    "autoregressive spline": lambda: layers.Autoregressive(5, (16,), "spline", reverse=True, context_dim=3),
    "actnorm": lambda: layers.ActNorm(5),
    "lu linear": lambda: layers.InvertibleLinearLU(5),
}


@pytest.mark.parametrize("name", list(VECTOR_LAYERS))
def test_vector_layer_logdet_and_inverse(name: str) -> None:
    torch.manual_seed(0)
    layer = VECTOR_LAYERS[name]()
    _perturb(layer)
    x = torch.randn(3, 5) * 1.5  # some entries fall outside the spline bound: tails are checked too
    _check_logdet(layer, x, torch.randn(3, 3))


def test_image_layers_logdet_and_inverse() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 2, 4, 4)
    for layer in (
        layers.ImageCoupling(layers.checkerboard(2, 4, 4, 1), 8, context_dim=2),
        layers.ImageCoupling(layers.channel_mask(2, 4, 4, 0), 8, context_dim=2),
        layers.ImageCoupling(layers.channel_mask(2, 4, 4, 1), 8, context_dim=2, scale="sigmoid"),
        layers.ActNorm(2),
        layers.InvertibleLinearLU(2),
        layers.Squeeze(),
    ):
        _perturb(layer)
        _check_logdet(layer, x, torch.randn(2, 2))


def test_rq_spline_is_monotonic_and_inverts() -> None:
    torch.manual_seed(0)
    x = torch.linspace(-4, 4, 401)
    params = torch.randn(1, 23).expand(401, 23)
    y, ld = rq_spline(x, params, bound=3.0)
    assert (y[1:] > y[:-1]).all()
    assert torch.allclose(rq_spline(y, params, inverse=True, bound=3.0)[0], x, atol=1e-4)
    assert torch.equal(y[x.abs() > 3], x[x.abs() > 3]) and (ld[x.abs() > 3] == 0).all()


@pytest.mark.parametrize("name", ["realnvp", "glow", "glow-sigmoid", "maf", "nsf"])
def test_whole_models_invert_and_match_jacobian(name: str) -> None:
    """End to end on 4x4 images (multi-scale for RealNVP/Glow) and on vectors, with a class condition."""
    torch.manual_seed(0)
    name, _, scale = name.partition("-")
    for shape in ((1, 4, 4), (6,)):
        m = _model(
            name,
            shape,
            coupling_scale=scale or "tanh",
            num_layers=2,
            hidden=(16,),
            channels=8,
            levels=2 if name == "realnvp" else 1,
            num_classes=3,
        )
        _perturb(m, 0.1)
        m.eval()
        x = torch.rand(2, *shape) if len(shape) == 3 else torch.randn(2, *shape)
        w, _ = m._preprocess(x, noise=False)
        ctx = torch.eye(3)[:2]
        _check_logdet(m.flow, w, ctx)
        labels = torch.tensor([0, 1])
        z = m.encode(x, labels=labels)
        assert torch.allclose(m.flow.inverse(z, ctx), w, atol=1e-4)


def test_glow_split_prior_inverts_matches_jacobian_and_is_learned() -> None:
    """The learned prior of the factored-out half is an exact flow step: log-det by autograd, inversion, and
    at initialisation (zero convolution) the model equals the same Glow without it."""
    torch.manual_seed(0)
    plain = _model("glow", (1, 4, 4), num_layers=2, channels=8, levels=2, split_prior=False)
    _perturb(plain, 0.1)
    m = _model("glow", (1, 4, 4), num_layers=2, channels=8, levels=2, split_prior=True)
    assert set(m.state_dict()) - set(plain.state_dict()) == {"flow.priors.0.net.weight", "flow.priors.0.net.bias"}
    m.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(3, 1, 4, 4)
    def density(model):
        return model.eval()._log_density(x, None, noise=False)

    assert torch.allclose(density(m), density(plain), atol=1e-5)
    _perturb(m.flow.priors, 0.1)
    w, _ = m._preprocess(x, noise=False)
    _check_logdet(m.flow, w, None)
    assert torch.allclose(m.flow.inverse(m.flow(w)[0]), w, atol=1e-4)
    assert not torch.allclose(density(m), density(plain), atol=1e-3)  # the prior now depends on h


def test_image_bits_per_dim_arithmetic_on_identity_flow() -> None:
    """A fresh RealNVP is the identity in logit space, so log p is known in closed form for given noise."""
    m = _model("realnvp", (1, 4, 4), num_layers=1, channels=4, levels=1).eval()
    x = torch.randint(0, 17, (3, 1, 4, 4)).float() / 16
    torch.manual_seed(5)
    lp = m.log_prob(x)
    torch.manual_seed(5)
    u = torch.rand_like(x)
    a, levels, d = 0.05, 17, 16
    s = a + (1 - 2 * a) * (torch.round(x * 16) + u) / levels
    w = torch.log(s / (1 - s))
    by_hand = (-0.5 * w**2 - 0.5 * math.log(2 * math.pi) + math.log(1 - 2 * a) - torch.log(s * (1 - s))).flatten(1)
    expected = by_hand.sum(1) - d * math.log(levels)
    assert torch.allclose(lp, expected, atol=1e-4)
    # bits/dim of the discrete bound = continuous-density bits/dim + log2(levels) bits for the 1/L scaling
    nll_cont = float(-(by_hand.sum(1)).mean())
    assert bits_per_dim(-float(expected.mean()), d) == pytest.approx(bits_per_dim(nll_cont, d, math.log2(levels)))
    assert bits_per_dim(d * math.log(256), d, 0) == pytest.approx(8.0)


def test_flow_learns_moons_far_below_gaussian() -> None:
    torch.manual_seed(0)
    train, test = gz.data.load("moons"), gz.data.load("moons", split="test")
    xt = train.x.numpy()
    from scipy.stats import multivariate_normal

    gauss = -multivariate_normal(xt.mean(0), np.cov(xt.T)).logpdf(test.x.numpy()).mean()
    m = gz.create("nsf", data=train, num_layers=4, hidden=(32, 32))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _step in range(300):
        idx = torch.randint(0, len(train), (256,))
        loss = m.loss((train.x[idx], train.labels[idx]))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    nll = float(-m.log_prob(test.x).mean())
    assert nll < gauss - 0.5, (nll, gauss)
    samples = m.sample(500)
    assert samples.shape == (500, 2) and torch.isfinite(samples).all()


def test_fit_save_load_same_samples_and_image_sampling(tmp_path) -> None:
    train = gz.data.load("digits")
    m = gz.create("glow", data=train, num_layers=1, channels=8, levels=1, num_classes=10)
    gz.fit(m, train, max_steps=3, batch_size=32, out=tmp_path / "run", progress=False)
    loaded = gz.load(tmp_path / "run")
    torch.manual_seed(0)
    a = m.sample(4, labels=torch.arange(4))
    torch.manual_seed(0)
    b = loaded.sample(4, labels=torch.arange(4))
    assert torch.allclose(a, b) and a.shape == (4, 1, 8, 8)
    assert a.min() >= 0 and a.max() <= 1
    levels = a * 16
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # samples land on the 17 digit levels


def test_conditional_context_vector() -> None:
    m = _model("maf", (3,), num_layers=2, hidden=(8,), context_dim=4)
    x, c = torch.randn(5, 3), torch.randn(5, 4)
    assert m.log_prob(x, context=c).shape == (5,)
    assert m.sample(5, context=c).shape == (5, 3)
    with pytest.raises(GenzooError, match="context"):
        m.log_prob(x)


def test_bad_input_is_one_clear_error(tmp_path) -> None:
    m = _model("realnvp", (4,), num_layers=2, hidden=(8,))
    with pytest.raises(GenzooError, match="shape"):
        m.log_prob(torch.randn(3, 5))
    with pytest.raises(GenzooError, match="NaN"):
        m.log_prob(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))
    with pytest.raises(GenzooError, match="unknown model"):
        gz.create("flowz")
    with pytest.raises(GenzooError, match="divisible"):
        _model("glow", (1, 6, 6), levels=2)
    assert main(["train", "realnvpp", "--data", "moons", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "nsf", "--data", "moons", "--out", str(tmp_path / "x"), "-O", "bins=lots"]) == 2


def test_argmax_flow_on_characters() -> None:
    torch.manual_seed(0)
    train = gz.data.load("pydoc_chars", seq_len=16)
    m = gz.create("argmax_flow", data=train, context=32, embed=16, num_layers=2, hidden=(32,))
    x = train.windows[:64]
    before = m.loss((x, None))["loss"].item()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(40):
        loss = m.loss((x, None))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert m.loss((x, None))["loss"].item() < before - 0.5
    one, many = m.log_prob(x, k=1), m.log_prob(x, k=16)
    assert (one < 0).all() and float(many.mean()) > float(one.mean())  # importance sampling tightens the bound
    s = m.sample(3, length=20)
    assert s.shape == (3, 20) and s.min() >= 0 and s.max() < train.info.extra["vocab_size"]
    assert len(train.decode(s[0])) == 20
    with pytest.raises(GenzooError, match="integer"):
        m.log_prob(torch.rand(2, 16))


def test_fresh_glow_density_equals_identity_flow_closed_form() -> None:
    """A fresh Glow is a rotation (orthogonal 1x1 convolutions, identity couplings, actnorm not yet fitted,
    squeeze/split permutations) of logit space, and a standard normal is rotation-invariant: its log_prob
    must equal the identity flow's closed form, so no level leaks or double-counts a log-determinant."""
    m = _model("glow", (1, 4, 4), num_layers=2, channels=4, levels=2).eval()
    x = torch.randint(0, 17, (3, 1, 4, 4)).float() / 16
    a, levels = 0.05, 17
    s = a + (1 - 2 * a) * (torch.round(x * 16) + 0.5) / levels
    w = torch.log(s / (1 - s))
    by_hand = (-0.5 * w**2 - 0.5 * math.log(2 * math.pi) + math.log(1 - 2 * a) - torch.log(s * (1 - s))).flatten(1)
    assert torch.allclose(m._log_density(x, None, noise=False), by_hand.sum(1), atol=1e-3)


def test_sigmoid_coupling_starts_as_identity_and_bounds_expansion() -> None:
    """Glow's sigmoid scale: a zero conditioner is the identity, and however large the conditioner's output,
    a step expands by at most 1 / sigmoid(2) (the guard against inputs blown up across many couplings)."""
    x = torch.randn(4, 3)
    y, log_s = transforms.affine_sigmoid(x, torch.zeros(4, 3, 2))
    assert torch.allclose(y, x, atol=1e-6) and torch.allclose(log_s, torch.zeros(4, 3), atol=1e-6)
    big = torch.stack([torch.full((4, 3), 1e4), torch.zeros(4, 3)], -1)
    _, log_s = transforms.affine_sigmoid(x, big)
    assert torch.allclose(log_s.exp(), torch.full((4, 3), 1 + math.exp(-2)))
    with pytest.raises(GenzooError, match="coupling scale"):
        layers.ImageCoupling(layers.channel_mask(2, 4, 4, 0), 8, scale="softplus")


def _binary_glow(dequantization: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """A perturbed Glow on 2x2 binary images and all 16 such images."""
    torch.manual_seed(0)
    info = DataInfo("t", "image", (1, 2, 2), None, None, {"levels": 2})
    m = gz.create("glow", data=_Data(info), num_layers=2, channels=8, levels=1, dequantization=dequantization)
    _perturb(m, 0.1)
    images = torch.tensor([[(k >> b) & 1 for b in range(4)] for k in range(16)]).float().view(16, 1, 2, 2)
    return m.eval(), images


def _uniform_probabilities(m: torch.nn.Module, images: torch.Tensor, draws: int = 4000) -> torch.Tensor:
    """P(image) = E_u exp(log p(x + u)), u ~ U(0, 1)^D: a finite-variance estimate, since the flow's density
    is bounded on each cell."""
    with torch.no_grad():
        return m.log_prob(images.repeat(draws, 1, 1, 1)).exp().view(draws, len(images)).mean(0)


def test_dequantised_image_probabilities_sum_to_at_most_one() -> None:
    """Over all 16 binary 2x2 images, P(image) under the dequantised density restricted to the logit map's
    range sums to at most 1, and near 1, only if every Jacobian and the D log L offset are counted."""
    m, images = _binary_glow("uniform")
    total = float(_uniform_probabilities(m, images).sum())
    assert 0.8 < total < 1.02, total


def test_variational_dequantisation_is_a_lower_bound() -> None:
    """With variational noise log_prob is E_q[log p(x + u) - log q(u | x)], by Jensen at most log P(x) of
    the same flow (measured with uniform draws, whose estimate has finite variance, unlike importance
    weights p / q under a logit-normal q), and not far below it for a q near its initialisation."""
    m, images = _binary_glow("variational")
    with torch.no_grad():
        bound = m.log_prob(images.repeat(4000, 1, 1, 1)).view(4000, 16).mean(0)
    dequantizer, m.dequantizer = m.dequantizer, None
    log_p = _uniform_probabilities(m, images).log()
    m.dequantizer = dequantizer
    gap = log_p - bound
    assert bool((gap > 0).all()) and bool((gap < 5).all()), gap


def test_variational_dequantizer_log_q_is_its_density() -> None:
    """log q(u | x) equals the change of variables from the Gaussian draw, against autograd's Jacobian;
    u stays inside (0, 1); and unknown modes are refused."""
    torch.manual_seed(0)
    q = VariationalDequantizer((1, 2, 2), hidden=8, steps=2)
    _perturb(q, 0.3)
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    eps = torch.randn(1, 1, 2, 2)
    with torch.no_grad():
        u, log_q = q(x, eps)
    jac = jacobian(lambda e: q(x, e.view(1, 1, 2, 2))[0].flatten(), eps.flatten()).double()
    by_hand = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi)).sum() - torch.linalg.slogdet(jac)[1]
    assert torch.allclose(log_q.double(), by_hand, atol=1e-4)
    assert 0 < float(u.min()) and float(u.max()) < 1
    with pytest.raises(GenzooError, match="dequantization"):
        _model("glow", (1, 4, 4), dequantization="learned")


def test_flow_image_recipe_defaults_and_shift_augmentation() -> None:
    train = gz.data.load("digits")
    glow = gz.create("glow", data=train)
    assert (glow.config.num_layers, glow.config.channels, glow.config.levels) == (12, 128, 2)
    assert glow.config.split_prior and not gz.create("realnvp", data=train).config.split_prior
    assert (glow.config.coupling_scale, glow.config.dequantization) == ("tanh", "uniform")
    assert gz.create("glow", data=gz.data.load("moons")).config.dequantization == "uniform"  # vectors: unused
    assert gz.create("realnvp", data=train).config.num_layers == 2
    assert gz.create("maf", data=gz.data.load("moons")).config.num_layers == 6  # vector flows keep theirs
    m = gz.create("glow", data=train, num_layers=1, channels=8, levels=1, augment_shift=1)
    x = train.images[:8]
    m.train()
    m.loss(x)  # actnorm's data-dependent initialisation
    torch.manual_seed(0)
    shifted = m.loss(x)["nll"]
    m.config.augment_shift = 0
    torch.manual_seed(0)
    assert shifted.item() != m.loss(x)["nll"].item()
    with pytest.raises(GenzooError, match="augment_shift"):
        gz.create("glow", data=train, augment_shift=-1)


def test_argmax_flow_first_character_probabilities_sum_to_at_most_one() -> None:
    """The importance-weighted bound of every one-character sequence, summed over the vocabulary, is at most
    1 (it is a lower bound on a distribution) and close to 1 with many draws: the base's scale and the
    dequantiser's Jacobian are both counted. Samples follow the same probabilities."""
    torch.manual_seed(0)
    train = gz.data.load("pydoc_chars", seq_len=8)
    m = gz.create("argmax_flow", data=train, context=16, embed=8, num_layers=2, hidden=(16,))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(30):
        loss = m.loss((train.windows[:64], None))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    v = m.config.vocab_size
    probs = m.log_prob(torch.arange(v)[:, None], k=512).exp()
    total = float(probs.sum())
    assert 0.5 < total < 1.05, total
    # sampling draws from the same distribution: first-character frequencies match the bound's probabilities
    freq = torch.bincount(m.sample(5000, length=1)[:, 0], minlength=v).double() / 5000
    assert float((probs / total - freq).abs().sum()) / 2 < 0.1
