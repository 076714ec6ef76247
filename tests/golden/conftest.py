"""Shared fixtures: one compressed MLP per test worker (float model cached in a temp dir,
``model_cache`` and ``digits`` from tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def mlp_result(model_cache, digits):
    from tessera.golden.pipeline import compress

    return compress("mlp", 0, data=digits, cache_dir=model_cache)
