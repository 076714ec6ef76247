"""Fixtures for every test folder: a temporary model cache and the digits split."""

import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def digits():
    from tessera.golden.data import load_digits_split

    return load_digits_split()
