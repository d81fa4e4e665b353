"""Test-wide settings: a private cache per session, quiet Lightning, small thread count."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["GENZOO_CACHE"] = str(tmp_path_factory.mktemp("genzoo-cache"))
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits_train():
    import genzoo as gz

    return gz.data.load("digits", split="train")


@pytest.fixture(scope="session")
def digits_test():
    import genzoo as gz

    return gz.data.load("digits", split="test")
