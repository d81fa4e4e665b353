import pytest
import torch

import genzoo as gz
from genzoo.errors import GenzooError
from genzoo.latent import interpolate


def test_vae_learns_and_iwae_tightens_the_elbo(digits_train, digits_test):
    torch.manual_seed(0)
    model = gz.create("vae", data=digits_train, latent_dim=8, hidden=16, downsamples=1)
    x = digits_test.images[:100]
    before = -model.log_prob(x, k=20).mean()
    gz.fit(model, digits_train, max_steps=250, batch_size=64, lr=3e-3, progress=False)
    after = -model.log_prob(x, k=20).mean()
    assert after < before - 5  # it learned
    torch.manual_seed(1)
    elbo = -model.loss((x, torch.zeros(len(x))))["neg_elbo"]
    iwae = model.log_prob(x, k=200).mean()
    assert iwae > elbo  # the importance-weighted bound is tighter than the ELBO
    s = model.sample(7)
    assert s.shape == (7, 1, 8, 8) and s.min() >= 0 and s.max() <= 1


def test_likelihood_options_and_logistic_is_a_distribution():
    from genzoo.models.vae.likelihoods import discretized_logistic_nll

    levels = torch.linspace(0, 1, 256).view(256, 1, 1, 1)
    mu, log_s = torch.full_like(levels, 0.3), torch.full_like(levels, -2.0)
    total = torch.exp(-discretized_logistic_nll(levels, mu, log_s)).sum()
    assert abs(float(total) - 1.0) < 1e-4  # probabilities of all 256 levels sum to one
    with pytest.raises(GenzooError, match="unknown likelihood"):
        gz.create("vae", likelihood="poisson")


def test_cvae_conditions_on_labels(digits_train):
    model = gz.create("cvae", data=digits_train, latent_dim=4, hidden=8)
    assert model.config.num_classes == 10
    out = model.sample(3, labels=torch.tensor([1, 2, 3]))
    assert out.shape == (3, 1, 8, 8)
    with pytest.raises(GenzooError, match="labels must be 3 class indices"):
        model.sample(3, labels=torch.tensor([1, 2, 30]))
    assert model.sample(2).shape == (2, 1, 8, 8)  # no labels: classes drawn uniformly
    with pytest.raises(GenzooError, match="needs labels"):
        model.log_prob(digits_train.images[:2])


def test_interpolation_endpoints_decode_the_inputs(digits_train):
    model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8).eval()
    a, b = digits_train[0][0], digits_train[1][0]
    strip = interpolate(model, a, b, steps=5)
    za, zb = model.encode(torch.stack([a, b]))
    assert strip.shape == (5, 1, 8, 8)
    assert torch.allclose(strip[0], model.decode(za[None])[0]) and torch.allclose(strip[-1], model.decode(zb[None])[0])
    sph = interpolate(model, a, b, steps=5, spherical=True)
    assert torch.allclose(sph[0], strip[0], atol=1e-5)


def test_wrong_shape_and_non_image_data_are_refused(digits_train):
    model = gz.create("vae", data=digits_train)
    expected = r"has shape \(1, 28, 28\) per example but model 'vae' was built for \(1, 8, 8\)"
    with pytest.raises(GenzooError, match=expected):
        model.encode(torch.zeros(2, 1, 28, 28))
    with pytest.raises(GenzooError, match="unknown 'vae' option"):
        gz.create("vae", data=digits_train, latent=3)
