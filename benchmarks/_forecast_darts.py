"""darts' RNNModel (LSTM, Gaussian likelihood) for benchmarks/forecast.py, run inside darts' own venv.

darts needs pytorch-lightning and pins of its own, so it lives in its own venv, .anchors/darts (torch 2.13 CPU, the
same build as genzoo's) and this script is its entry point: a JSON job on stdin, a JSON answer on stdout.
Job: {"values": [...], "horizon": H, "differencing": d, "context": C, "hidden": h, "layers": l,
"dropout": p, "steps": S, "batch": B, "samples": N, "seed": s}. The series gets the same treatment as
genzoo's (first difference when d > 0, paths integrated back) plus darts' usual min-max Scaler; the
number of epochs is chosen so that darts takes about S gradient steps of batch B, genzoo's budget.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch


def main() -> None:
    job = json.load(sys.stdin)
    torch.set_num_threads(1)
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import RNNModel
    from darts.utils.likelihood_models import GaussianLikelihood

    y = np.asarray(job["values"], dtype=np.float64)
    d, horizon = int(job["differencing"]), int(job["horizon"])
    z = y[d:] - y[:-d] if d else y
    scaler = Scaler()
    series = scaler.fit_transform(TimeSeries.from_values(z.astype(np.float32)))
    training_length = job["context"] + horizon
    windows = max(1, len(z) - training_length + 1)
    epochs = max(1, math.ceil(job["steps"] * job["batch"] / windows))
    model = RNNModel(
        model="LSTM",
        input_chunk_length=job["context"],
        training_length=training_length,
        hidden_dim=job["hidden"],
        n_rnn_layers=job["layers"],
        dropout=job["dropout"],
        likelihood=GaussianLikelihood(),
        batch_size=job["batch"],
        n_epochs=epochs,
        random_state=job["seed"],
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "enable_checkpointing": False,
        },
    )
    start = time.perf_counter()
    model.fit(series, verbose=False)
    seconds = time.perf_counter() - start
    forecast = scaler.inverse_transform(model.predict(horizon, num_samples=job["samples"], verbose=False))
    paths = forecast.all_values()[:, 0, :].T.astype(np.float64)  # (samples, horizon)
    if d:  # y[t] = y[t - d] + z[t]
        ext = np.concatenate([np.repeat(y[None, -d:], len(paths), 0), paths], 1)
        for h in range(horizon):
            ext[:, d + h] += ext[:, h]
        paths = ext[:, d:]
    import darts

    json.dump(
        {"paths": paths.tolist(), "fit_seconds": seconds, "epochs": epochs, "version": darts.__version__},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
