"""Shared fixtures: one compressed MLP per test worker (float model cached in a temp dir)."""

import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def digits():
    from tessera.golden.data import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def mlp_result(model_cache, digits):
    from tessera.golden.pipeline import compress

    return compress("mlp", 0, data=digits, cache_dir=model_cache)
