"""Sample-quality metrics on learned features: FID and KID (torchmetrics), precision and recall (k-NN).

The features come from `features.feature_net_for` (a classifier genzoo trains on the dataset); with a
torchmetrics Inception network available (internet, torch-fidelity), pass `feature=2048` to use it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.errors import GenzooError
from genzoo.metrics.features import feature_net_for


def _batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch: int = 500) -> Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def sample_metrics(real: Tensor, fake: Tensor, dataset: str, train: Dataset, test: Dataset | None = None,
                   which: tuple[str, ...] = ("fid", "kid", "precision", "recall"), k: int = 3) -> dict[str, float]:
    """Compare generated images `fake` with `real` images (both (N, C, H, W) in [0, 1])."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    net = feature_net_for(dataset, train, test).eval()
    out: dict[str, float] = {}
    real, fake = real.float().clamp(0, 1), fake.float().clamp(0, 1)
    if "fid" in which:
        fid = FrechetInceptionDistance(feature=net, reset_real_features=True)
        for i in range(0, len(real), 500):
            fid.update(real[i : i + 500], real=True)
        for i in range(0, len(fake), 500):
            fid.update(fake[i : i + 500], real=False)
        out["fid_classifier"] = float(fid.compute())
    if "kid" in which:
        subset = min(len(real), len(fake), 500)
        with warnings.catch_warnings():  # "saves all features in a buffer": intended, we pass ~1000 images
            warnings.simplefilter("ignore", UserWarning)
            kid = KernelInceptionDistance(feature=net, subset_size=subset, subsets=50)
        kid.update(real, real=True)
        kid.update(fake, real=False)
        out["kid_classifier"] = float(kid.compute()[0])
    if "precision" in which or "recall" in which:
        fr, ff = _batched(net, real), _batched(net, fake)
        p, r = precision_recall(fr, ff, k)
        out["precision"], out["recall"] = p, r
    return out


@torch.no_grad()
def inception_fid(real: Tensor, fake: Tensor) -> float:
    """FID on torchmetrics' Inception-v3 features, for users who have torch-fidelity and its weights.

    Those weights are downloaded on first use, so offline this fails with one line pointing at the
    classifier features, which always work.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    try:
        fid = FrechetInceptionDistance(feature=2048, normalize=True)
    except (ModuleNotFoundError, OSError, RuntimeError, ValueError) as e:
        raise GenzooError(
            "Inception FID needs torch-fidelity and its Inception weights (fetched on first use): "
            f"{str(e).splitlines()[0]}; offline, use the default classifier features"
        ) from None
    def rgb(x: Tensor) -> Tensor:  # Inception reads 3 channels; grey images are repeated
        x = x.float().clamp(0, 1)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    for i in range(0, len(real), 200):
        fid.update(rgb(real[i : i + 200]), real=True)
    for i in range(0, len(fake), 200):
        fid.update(rgb(fake[i : i + 200]), real=False)
    return float(fid.compute())


def precision_recall(real_feats: Tensor, fake_feats: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall (Kynkäänniemi et al. 2019): share of samples inside the other set's k-NN balls."""

    def radii(f: Tensor) -> Tensor:
        d = torch.cdist(f, f)
        return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is its nearest neighbour

    def inside(points: Tensor, ref: Tensor, ref_radii: Tensor) -> float:
        return float((torch.cdist(points, ref) <= ref_radii.unsqueeze(0)).any(1).float().mean())

    real_feats, fake_feats = real_feats.double(), fake_feats.double()
    return inside(fake_feats, real_feats, radii(real_feats)), inside(real_feats, fake_feats, radii(fake_feats))
