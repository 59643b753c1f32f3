"""bf16 decoding: a bfloat16 search whose returned scores are exact float32 log-probabilities."""

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.decoding import generator as generator_lib
from mtask_tf.decoding import low_precision
from mtask_tf.decoding import responder as responder_lib
from tests.decoding.test_responder import WEIGHTS
from tests.helpers import BOTH_MODELS
from tests.helpers import INPUTS
from tests.helpers import decode_config

FULL_LIST = dict(beam_size=4, max_length=5, candidates=None, responses=None)


def _generate(responder):
    return {k: v.numpy() for k, v in responder.generate(*INPUTS).items()}


@BOTH_MODELS
def test_bf16_step_is_close_to_the_float32_step_and_runs_in_bfloat16(models):
    trained = models[0]
    decoder = trained.models.decoder
    low = low_precision.Bfloat16Decoder(decoder)
    generator = generator_lib.Generator(trained.models.encoder, decoder)
    (states, _), memory = generator.initial_state(
        tf.constant([[5, 6, 3], [7, 3, 0], [8, 3, 0]]), [0, 1, 2]
    )
    ids, speakers = tf.constant([2, 5, 9]), tf.constant([0, 1, 2])
    for _ in range(2):  # the second step reads the first's state (and h~)
        exact, exact_states = decoder.step(ids, states, speakers, memory)
        logits, low_states = low.step(ids, states, speakers, memory)
        assert logits.dtype == tf.bfloat16
        for low_state, exact_state in zip(
            tf.nest.flatten(low_states), tf.nest.flatten(exact_states)
        ):
            assert low_state.dtype == tf.float32  # the cell state (and h~) stays float32
            np.testing.assert_allclose(low_state, exact_state, atol=0.05)
        difference = np.abs(tf.cast(logits, tf.float32).numpy() - exact.numpy())
        assert 0 < difference.max() < 0.1  # rounded, but the same function
        states = exact_states


# The attention model's bf16 search and rescoring are checked the same way on its
# export, in the bf16 export test of tests/export/test_export.py.
def test_bf16_returned_scores_equal_the_float32_score_signature(eos_models, responder_for):
    responder = responder_for(eos_models, **FULL_LIST, **WEIGHTS, decode_dtype="bf16")
    out = _generate(responder)
    counts = (out["lengths"] > 0).sum(axis=1)
    assert (counts > 4).all(), counts  # more than a beam: the full list is rescored
    for row in range(2):
        filled = out["lengths"][row] > 0
        responses = tf.constant(out["responses"][row][filled])
        inputs = [tf.repeat(column[row : row + 1], int(filled.sum())) for column in INPUTS]
        scored = responder.score(*inputs, responses)
        np.testing.assert_allclose(
            scored["log_prob"], out["forward_log_prob"][row][filled], rtol=1e-5, atol=1e-5
        )
        assert np.all(np.diff(out["scores"][row][filled]) <= 1e-6)  # still reranked, sorted
        assert np.all(np.isneginf(out["scores"][row][~filled]))


def test_rescoring_replaces_the_bfloat16_search_scores(eos_models):
    forward = eos_models[0]
    generator = generator_lib.Generator(
        forward.models.encoder, forward.models.decoder, search_dtype="bf16"
    )
    source = tf.constant([[5, 6, 7, 3], [8, 9, 0, 0]])
    speaker = tf.constant([1, 2])
    state = generator.initial_state(source, speaker)
    raw = generator.search(state, beam_size=4, max_length=5)
    rescored = generator.generate(source, speaker, beam_size=4, max_length=5)
    filled = raw.lengths.numpy() > 0
    # The same candidates, float32 scores instead of the search's bfloat16 ones.
    assert (rescored.lengths.numpy() > 0).sum() == filled.sum()
    raw_scores = np.sort(raw.scores.numpy()[filled])
    exact = np.sort(rescored.scores.numpy()[rescored.lengths.numpy() > 0])
    assert np.abs(raw_scores - exact).max() > 1e-4
    np.testing.assert_allclose(raw_scores, exact, atol=0.5)
    for row, count in enumerate(filled.sum(axis=1)):  # sorted by the new scores
        assert np.all(np.diff(rescored.scores.numpy()[row, :count]) <= 0)


@BOTH_MODELS
def test_rescoring_an_empty_list_keeps_it_empty(models):
    forward = models[0]
    generator = generator_lib.Generator(
        forward.models.encoder, forward.models.decoder, search_dtype="bf16"
    )
    empty = generator_lib.beam_search_lib.BeamSearchResult(
        tf.zeros([2, 3, 5], tf.int32), tf.zeros([2, 3], tf.int32), tf.fill([2, 3], -np.inf)
    )
    state = generator.initial_state(tf.constant([[5, 3], [6, 3]]), tf.constant([0, 1]))
    result = tf.function(generator.rescore, autograph=False)(state, empty)
    assert np.all(np.isneginf(result.scores.numpy()))
    assert not result.lengths.numpy().any()


def test_unknown_search_dtype_is_refused(models):
    forward = models[0]
    with pytest.raises(ValueError, match="search_dtype must be one of float32, bf16"):
        generator_lib.Generator(forward.models.encoder, forward.models.decoder, "float16")


@BOTH_MODELS
@pytest.mark.parametrize("budget", [11, 1 << 20])  # one normaliser per chunk, or all at once
def test_exact_log_probs_equal_teacher_forced_scoring(models, budget):
    generator = responder_lib.Responder(models[0], None, decode_config()).forward
    rng = np.random.default_rng(3)
    source = tf.constant(rng.integers(4, 11, [2, 5]), tf.int32)
    speaker = tf.constant([1, 2])
    # Eight candidates per input, many sharing prefixes, of lengths 1-5 (padded with 0).
    tokens = rng.integers(4, 6, [16, 5])
    lengths = rng.integers(1, 6, [16])
    target_out = np.where(np.arange(5) < lengths[:, None] - 1, tokens, 0)
    target_out[np.arange(16), lengths - 1] = 3  # EOS
    target_in = np.concatenate([np.full([16, 1], 2), target_out[:, :-1]], 1)
    rows = np.repeat([0, 1], 8)
    expected, _ = generator.score(
        tf.gather(source, rows), tf.gather(speaker, rows), target_in, target_out
    )
    encoded, memory = generator.encode(source)
    states = tf.nest.map_structure(lambda x: tf.gather(x, rows), encoded)
    log_prob = low_precision.exact_log_probs(
        generator.decoder,
        states,
        tf.constant(rows, tf.int32),
        tf.gather(speaker, rows),
        tf.constant(target_in, tf.int32),
        tf.constant(target_out, tf.int32),
        budget,
        memory,
    )
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)
