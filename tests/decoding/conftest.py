"""Fixtures of the decoding tests."""

import pytest

from tests.helpers import random_pair


@pytest.fixture()
def models(tmp_path):
    """(forward, reverse): tiny random models as `model_dir.load_trained` returns them."""
    return random_pair(tmp_path)
