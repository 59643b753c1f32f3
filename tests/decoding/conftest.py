"""Fixtures of the decoding tests."""

import pytest

from tests.helpers import random_pair


@pytest.fixture()
def models(tmp_path, request):
    """(forward, reverse): tiny random models as `model_dir.load_trained` returns them.

    The paper's model; a test marked `@BOTH_MODELS` also runs with attention.
    """
    return random_pair(tmp_path, attention=getattr(request, "param", "none"))
