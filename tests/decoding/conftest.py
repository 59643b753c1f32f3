"""Fixtures of the decoding tests."""

import pytest

from tests.helpers import random_pair


@pytest.fixture(params=["none", "luong"], ids=["plain", "attention"])
def models(tmp_path, request):
    """(forward, reverse): tiny random models as `model_dir.load_trained` returns them.

    Every test that takes them runs with the paper's model and with attention.
    """
    return random_pair(tmp_path, attention=request.param)
