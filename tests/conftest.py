"""Shared fixtures: tiny trained runs (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tiny_config

from gandiag.features.cache import CACHE_ENV
from reference_models import train


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory, monkeypatch):
    """Each test its own ``$GANDIAG_CACHE_DIR``: no test reads features or a floor row that another
    (perhaps monkeypatched) test cached, and no test writes to the user's cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """An nsgan-ring8 run with checkpoints at steps 0, 2 and 4."""
    out = tmp_path_factory.mktemp("tiny_run")
    train(tiny_config("nsgan-ring8", steps=4, checkpoint_every=2), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_digits_run(tmp_path_factory) -> Path:
    """A conditional wgangp-digits run (DCGAN nets) with checkpoints at steps 0 and 2."""
    out = tmp_path_factory.mktemp("tiny_digits_run")
    train(tiny_config("wgangp-digits", steps=2, checkpoint_every=2, width=8, conditional=True), out, progress=False)
    return out
