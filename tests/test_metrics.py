import math

import torch

from genzoo.metrics.fid import precision_recall, sample_metrics
from genzoo.metrics.likelihood import bits_per_dim


def test_bits_per_dim_arithmetic():
    d = 784
    # a uniform density over 256 levels per pixel costs exactly 8 bits/dim
    assert math.isclose(bits_per_dim(d * math.log(256), d), 8.0)
    # the same data fitted as a density on [0, 1] (scaled by 1/256) has NLL 0 -> add 8 bits back
    assert math.isclose(bits_per_dim(0.0, d, scale_bits=8), 8.0)


def test_precision_recall_extremes():
    a = torch.randn(200, 5)
    p, r = precision_recall(a, a.clone())
    assert p == 1.0 and r == 1.0
    p, r = precision_recall(a, a + 100)
    assert p == 0.0 and r == 0.0


def test_classifier_fid_separates_real_from_noise(digits_train, digits_test):
    real = digits_test.images
    good = sample_metrics(real, digits_train.images[: len(real)], "digits", digits_train, digits_test,
                          which=("fid", "kid"))
    bad = sample_metrics(real, torch.rand_like(real), "digits", digits_train, digits_test, which=("fid",))
    assert good["fid_classifier"] < 0.2 * bad["fid_classifier"]
    from genzoo.metrics.features import feature_net_accuracy

    assert feature_net_accuracy("digits", (1, 8, 8)) > 0.9  # the feature classifier really reads digits


def test_inception_fid_is_optional_and_fails_in_one_line_offline():
    import importlib.util

    import pytest

    from genzoo.errors import GenzooError
    from genzoo.metrics.fid import inception_fid

    if importlib.util.find_spec("torch_fidelity") is not None:
        pytest.skip("torch-fidelity is installed here; the offline path cannot be shown")
    with pytest.raises(GenzooError, match="Inception FID needs torch-fidelity"):
        inception_fid(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8))
