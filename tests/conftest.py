"""Test-wide settings: a private cache per session and one torch thread per test process.

The suite runs as two pytest-xdist workers (one per core). Its models are tiny, and for tiny ops a second
OpenMP thread costs more than it gives (a small GRU ran ~3x slower with 2 threads than with 1 here), so each
worker uses one thread and the two cores run two tests at once.
"""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["GENZOO_CACHE"] = str(tmp_path_factory.mktemp("genzoo-cache"))
    os.environ["OMP_NUM_THREADS"] = "1"  # for the subprocesses tests start (CLI, DDP)
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits_train():
    import genzoo as gz

    return gz.data.load("digits", split="train")


@pytest.fixture(scope="session")
def digits_test():
    import genzoo as gz

    return gz.data.load("digits", split="test")
