"""Metrics, and `evaluate(model, data, metrics)` which computes any named subset of them."""

from __future__ import annotations

from typing import Any

import torch

from genzoo.errors import GenzooError

SAMPLE_METRICS = {"fid": "fid", "kid": "kid", "precision": "precision", "recall": "recall"}
KNOWN = ("fid", "kid", "precision", "recall", "nll", "fid_inception")


def evaluate(model: torch.nn.Module, data: Any, metrics: list[str], n_samples: int = 1000,
             train_data: Any = None, seed: int = 0, **kwargs: Any) -> dict[str, float]:
    """Named metrics of `model` against `data` (normally the test split).

    fid/kid/precision/recall draw `n_samples` samples and use the dataset's classifier features (trained
    on `train_data`, by default the train split of the same named dataset); fid_inception uses
    torchmetrics' Inception-v3 where torch-fidelity and its weights are available. nll reports nats per example
    and bits/dim from `model.log_prob` (exact for flows/autoregressive models, a bound for VAEs).
    """
    from genzoo.data import load
    from genzoo.metrics.likelihood import bits_per_dim, dataset_nll

    unknown = [m for m in metrics if m not in KNOWN]
    if unknown:
        raise GenzooError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    info = getattr(data, "info", None)
    out: dict[str, float] = {}
    torch.manual_seed(seed)
    model.eval()
    if "nll" in metrics:
        nll = dataset_nll(model, data, **kwargs)
        out["nll_nats"] = nll
        if info is not None and info.shape:
            out["bits_per_dim"] = bits_per_dim(nll, int(torch.tensor(info.shape).prod()))
    wanted = tuple(SAMPLE_METRICS[m] for m in metrics if m in SAMPLE_METRICS)
    if wanted:
        if info is None or info.kind != "image":
            raise GenzooError("fid/kid/precision/recall need image data")
        from genzoo.metrics.fid import sample_metrics

        train_data = train_data if train_data is not None else load(info.name, split="train")
        real = _real(data, n_samples)
        fake = _draw(model, n_samples, info)
        out.update(sample_metrics(real, fake, info.name, train_data, data, which=wanted))
    if "fid_inception" in metrics:
        from genzoo.metrics.fid import inception_fid

        if info is None or info.kind != "image":
            raise GenzooError("fid_inception needs image data")
        out["fid_inception"] = inception_fid(_real(data, n_samples), _draw(model, n_samples, info))
    return out


def _real(data: Any, n: int) -> torch.Tensor:
    if hasattr(data, "images"):
        return data.images[:n]
    return torch.stack([data[i][0] for i in range(min(n, len(data)))])


@torch.no_grad()
def _draw(model: torch.nn.Module, n: int, info: Any, batch: int = 500) -> torch.Tensor:
    """n samples; class-conditional models draw classes evenly so FID compares like with like."""
    chunks = []
    for start in range(0, n, batch):
        m = min(batch, n - start)
        if getattr(model.config, "num_classes", 0) and info.num_classes:
            labels = (torch.arange(start, start + m) % info.num_classes)
            chunks.append(model.sample(m, labels=labels).float().cpu())
        else:
            chunks.append(model.sample(m).float().cpu())
    return torch.cat(chunks)
