"""Shared test helpers: tiny randomly initialised models, their inputs and decoding settings.

For the tests of decoding, export and benchmarks that need a model as
`model_dir.load_trained` returns it, without training one (`conftest.trained`
trains real ones).
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.data import tokenizer
from mtask_tf.data import vocabulary
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.model import builders
from mtask_tf.model import model_dir as model_dir_lib

SPEAKERS = ["ALICE", "HAMLET", "IAGO"]
WORDS = ["good", "night", "sweet", "prince", "my", "lord", "sir"]


def training_batch(seed):
    """A seeded batch of 4 rows as the training pipeline gives it, for a vocabulary of 12
    and 3 speakers: source [4, 5], target_in/target_out [4, 3] (row 1 padded), speaker [4]."""
    rng = np.random.RandomState(seed)
    target_out = rng.randint(4, 12, (4, 3)).astype("int32")
    target_out[:, -1] = 3
    target_out[1, 1:] = [3, 0]
    target_in = np.concatenate([np.full((4, 1), 2, "int32"), target_out[:, :-1]], 1)
    target_in[1, 2] = 0
    return {
        "source": rng.randint(3, 12, (4, 5)).astype("int32"),
        "target_in": target_in,
        "target_out": target_out,
        "speaker": rng.randint(0, 3, (4,)).astype("int32"),
    }


def random_pair(tmp_path, attention="none"):
    """A persona forward model and a plain reverse model, randomly initialised."""
    return (
        random_model(tmp_path, "forward", persona=True, attention=attention),
        random_model(
            tmp_path, "reverse", persona=False, direction="reverse", seed=1, attention=attention
        ),
    )


def random_model(tmp_path, name, persona, direction="forward", seed=0, attention="none"):
    """A randomly initialised model directory, as load_trained returns it.

    attention="luong": the model has attention (and dropout 0.2, inactive in decoding).
    """
    directory = tmp_path / name
    directory.mkdir()
    vocabulary.save_vocabulary(directory / "vocab.txt", list(vocabulary.SPECIAL_TOKENS) + WORDS)
    model_dir_lib.write_lines(directory / "speakers.txt", SPEAKERS)
    config = builders.ModelConfig(len(WORDS) + 4, 6, 8, 2, 3 if persona else 0, 4, 0.8)
    if attention != "none":
        config = dataclasses.replace(config, attention=attention, dropout=0.2)
    keras.utils.set_random_seed(seed)
    models = builders.build_models(config, False)
    experiment = model_dir_lib.Experiment(direction, ("HAMLET", "IAGO"), 12, 6)
    return model_dir_lib.TrainedModel(
        directory,
        config,
        experiment,
        tokenizer.Tokenizer(directory / "vocab.txt"),
        SPEAKERS,
        models,
    )


# For tests that take the `models` fixture (tests/decoding/conftest.py): run them with
# the paper's model and with the attention model.
BOTH_MODELS = pytest.mark.parametrize(
    "models", ["none", "luong"], ids=["plain", "attention"], indirect=True
)

INPUTS = (
    tf.constant(["good night", ""]),
    tf.constant(["sweet prince", "my lord sir"]),
    tf.constant(["HAMLET", "IAGO"]),
)


def decode_config(**kwargs):
    """A small `DecodeConfig` (beam 12, 5 tokens, 8 candidates); kwargs override it."""
    return responder_lib.DecodeConfig(
        **{**dict(beam_size=12, max_length=5, candidates=8, responses=8), **kwargs}
    )


def favour_eos(trained, boost=1.5):
    """A model on which many hypotheses finish early: EOS's output bias raised."""
    bias = trained.models.decoder.output_projection.bias
    bias.assign(bias + boost * tf.one_hot(vocabulary.EOS_ID, bias.shape[0]))
    return trained
