"""Fixtures of the decoding tests: tiny models and Responders, built once per test process.

A Responder's first `generate` traces its whole graph (seconds of CPU), and a
tiny model takes more than a second to build, so tests share them: they are
read only (a test that changes a model's weights builds its own with
`random_pair`).
"""

import pytest

from mtask_tf.decoding import responder as responder_lib
from tests.helpers import decode_config
from tests.helpers import favour_eos
from tests.helpers import random_pair


@pytest.fixture(scope="session")
def shared_pair(tmp_path_factory):
    """kind -> (forward, reverse), built on first use: "none" (the paper's model),
    "luong" (with attention) or "eos" (the paper's, finishing early: `favour_eos`)."""
    made = {}

    def get(kind):
        if kind not in made:
            attention = "luong" if kind == "luong" else "none"
            forward, reverse = random_pair(tmp_path_factory.mktemp(kind), attention)
            made[kind] = (favour_eos(forward) if kind == "eos" else forward, reverse)
        return made[kind]

    return get


@pytest.fixture()
def models(shared_pair, request):
    """(forward, reverse): tiny random models as `model_dir.load_trained` returns them.

    The paper's model; a test marked `@BOTH_MODELS` also runs with attention;
    parametrized indirectly with "eos", the paper's model that finishes early.
    """
    return shared_pair(getattr(request, "param", "none"))


@pytest.fixture()
def eos_models(shared_pair):
    """The paper's model with EOS favoured: many hypotheses finish, lists exceed a beam."""
    return shared_pair("eos")


@pytest.fixture(scope="session")
def responder_for():
    """responder_for(models, **settings): a shared `Responder(*models, decode_config(**settings))`.

    One per models and settings, so a graph is traced once however many tests read it.
    """
    made = {}

    def get(models, **settings):
        key = (*map(id, models), tuple(sorted(settings.items())))
        if key not in made:  # the models are kept too: their id is not reused
            made[key] = models, responder_lib.Responder(*models, decode_config(**settings))
        return made[key][1]

    return get
