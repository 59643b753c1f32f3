"""Sample-and-rerank's sampler over scripted and random step functions."""

import collections
import math

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.decoding.beam_search import greedy_search
from mtask_tf.decoding.beam_search import sequence_log_prob
from mtask_tf.decoding.beam_search import tile_to_beam
from mtask_tf.decoding.sampling import SamplingOptions
from mtask_tf.decoding.sampling import sample
from tests.decoding.test_beam_search import BOS
from tests.decoding.test_beam_search import EOS
from tests.decoding.test_beam_search import NEG_INF
from tests.decoding.test_beam_search import UNK
from tests.decoding.test_beam_search import RnnModel
from tests.decoding.test_beam_search import assert_same_list
from tests.decoding.test_beam_search import assert_well_formed
from tests.decoding.test_beam_search import hypotheses
from tests.decoding.test_beam_search import tree_step_fn

IDS = dict(bos_id=BOS, eos_id=EOS)


def draw(step_fn, state, batch, **kwargs):
    """Runs `sample` inside a tf.function, as in an exported model (no autograph); numpy results."""
    run = tf.function(lambda state: sample(step_fn, state, batch, **IDS, **kwargs), autograph=False)
    return tf.nest.map_structure(lambda x: x.numpy(), run(state))


def rnn(batch=3, seed=4):
    """A random RNN flat enough that samples differ (each row's best first word < 0.53)."""
    model = RnnModel(seed=seed, batch=batch)
    model.output /= 3.0
    return model, model.initial_state()


def any_batch_sampler(model, **kwargs):
    """`sample` over the RNN's states, traced once for any batch and seeds (int64 [batch])."""
    run = tf.function(
        lambda h, seed: sample(model.step_fn, {"h": h}, tf.shape(h)[0], seed=seed, **IDS, **kwargs),
        input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None], tf.int64)],
        autograph=False,
    )
    return lambda state, seeds: tf.nest.map_structure(
        lambda x: x.numpy(), run(state["h"], tf.constant(seeds, tf.int64))
    )


def test_the_same_seed_gives_the_same_list_and_another_seed_another():
    model, state = rnn()
    draw_rnn = any_batch_sampler(model, num_samples=12, max_length=6)
    first, again, other = (draw_rnn(state, [seed] * 3) for seed in (7, 7, 8))
    for row in range(3):
        assert hypotheses(first, row) == hypotheses(again, row)
        assert hypotheses(first, row) != hypotheses(other, row)


def test_an_input_gets_the_same_samples_alone_as_in_a_batch():
    model, state = rnn()
    draw_rnn = any_batch_sampler(model, num_samples=10, max_length=6)
    seeds = [3, 4, 5]
    together = draw_rnn(state, seeds)
    for row in range(3):
        alone = draw_rnn({"h": state["h"][row : row + 1]}, seeds[row : row + 1])
        assert_same_list(hypotheses(alone, 0), hypotheses(together, row))


def test_samples_are_distinct_sorted_and_scored_with_the_true_log_probability():
    model, state = rnn()
    n, max_length = 40, 5
    # Tempered and cut distributions; the scores must ignore both.
    options = SamplingOptions(top_k=3, top_p=0.9, temperature=0.5)
    result = draw(
        model.step_fn, state, 3, seed=1, num_samples=n, max_length=max_length, options=options
    )
    assert_well_formed(result, max_length)  # sorted, distinct, EOS-terminated, PAD/BOS never
    filled = result.lengths > 0
    assert 1 < filled.sum(axis=1).min() and filled.sum(axis=1).max() < n  # duplicates dropped
    rescored = sequence_log_prob(
        model.step_fn,
        tile_to_beam(state, n),
        result.ids.reshape([-1, max_length]),
        result.lengths.reshape([-1]),
        BOS,
    ).numpy()
    np.testing.assert_allclose(rescored.reshape([3, n])[filled], result.scores[filled], atol=1e-4)


def test_a_cold_temperature_samples_the_greedy_response():
    model, state = rnn()
    result = draw(
        model.step_fn,
        state,
        3,
        seed=2,
        num_samples=8,
        max_length=6,
        options=SamplingOptions(temperature=1e-4),
    )
    greedy = tf.nest.map_structure(
        lambda x: x.numpy(), greedy_search(model.step_fn, state, 3, max_length=6, **IDS)
    )
    for row in range(3):
        [(sequence, score)] = hypotheses(result, row)  # every sample the same
        [(expected, expected_score)] = hypotheses(greedy, row)
        assert sequence == expected and score == pytest.approx(expected_score, abs=1e-5)


# One word, then EOS: the first word's distribution is what is sampled.
ONE_WORD = {
    (0, BOS): {4: 0.5, 5: 0.3, 6: 0.15, UNK: 0.05},
    **{(1, w): {EOS: 1.0} for w in (4, 5, 6, UNK)},
}


def first_words(options, draws=3000, **kwargs):
    """How often each first word is drawn: one sample for each of `draws` seeds."""
    result = draw(
        tree_step_fn(ONE_WORD, 2),
        (),
        draws,
        seed=tf.range(draws, dtype=tf.int64),
        num_samples=1,
        max_length=2,
        options=options,
        **kwargs,
    )
    counts = collections.Counter(result.ids[:, 0, 0].tolist())
    return {word: count / draws for word, count in counts.items()}


@pytest.mark.parametrize(
    "options, expected",
    [
        (SamplingOptions(), {4: 0.5, 5: 0.3, 6: 0.15, UNK: 0.05}),
        (SamplingOptions(top_k=2), {4: 0.5 / 0.8, 5: 0.3 / 0.8}),
        # Top-p 0.7: 4 (0.5 before it: 0) and 5 (0.5 < 0.7 before it); 6 has 0.8 before it.
        (SamplingOptions(top_p=0.7), {4: 0.5 / 0.8, 5: 0.3 / 0.8}),
        (SamplingOptions(top_p=0.85), {4: 0.5 / 0.95, 5: 0.3 / 0.95, 6: 0.15 / 0.95}),
        (SamplingOptions(top_k=1), {4: 1.0}),
        # Temperature 2: p ** (1 / 2), renormalised.
        (
            SamplingOptions(temperature=2.0),
            {w: math.sqrt(p) / 1.8657 for w, p in {4: 0.5, 5: 0.3, 6: 0.15, UNK: 0.05}.items()},
        ),
    ],
)
def test_top_k_top_p_and_temperature_shape_the_distribution(options, expected):
    got = first_words(options)
    assert set(got) == set(expected)  # the support, exactly
    for word, share in expected.items():
        assert got[word] == pytest.approx(share, abs=0.035), word


def test_blocked_words_and_early_eos_are_never_drawn():
    # UNK is the most probable first word; EOS the second.
    tree = {(0, BOS): {UNK: 0.6, EOS: 0.3, 4: 0.1}, (1, 4): {EOS: 1.0}}
    result = draw(
        tree_step_fn(tree, 2),
        (),
        1,
        seed=0,
        num_samples=20,
        max_length=2,
        blocked_ids=(UNK,),
        min_length=1,
    )
    # Only "4 EOS" is left, with its true probability 0.1 (not renormalised to 1).
    assert [(seq, round(float(s), 4)) for seq, s in hypotheses(result, 0)] == [
        ((4, EOS), round(math.log(0.1), 4))
    ]


def test_the_last_token_is_eos_with_the_models_own_probability():
    tree = {(0, BOS): {4: 1.0}, (1, 4): {5: 0.9, EOS: 0.1}, (2, 5): {6: 0.5, EOS: 0.5}}
    result = draw(tree_step_fn(tree, 3), (), 1, seed=0, num_samples=30, max_length=3)
    got = dict(hypotheses(result, 0))
    assert set(got) <= {(4, EOS), (4, 5, EOS)} and (4, 5, EOS) in got
    assert got[(4, 5, EOS)] == pytest.approx(math.log(0.9 * 0.5), abs=1e-5)


def test_no_sample_repeats_an_ngram_with_the_guard():
    model, state = rnn()
    model.output[:, 4] += 3.0  # word 4 again and again
    kwargs = dict(seed=4, num_samples=30, max_length=6)
    plain = draw(model.step_fn, state, 3, **kwargs)
    words = lambda result: [seq[:-1] for row in range(3) for seq, _ in hypotheses(result, row)]
    assert any(len(set(w)) < len(w) for w in words(plain))
    guarded = draw(model.step_fn, state, 3, no_repeat_ngram_size=1, **kwargs)
    assert words(guarded) and all(len(set(w)) == len(w) for w in words(guarded))


def test_an_impossible_sample_leaves_an_empty_slot():
    # The model never ends a response: at the last step EOS has probability 0.
    tree = {(0, BOS): {4: 1.0}, (1, 4): {5: 1.0}}
    result = draw(tree_step_fn(tree, 2), (), 1, seed=0, num_samples=3, max_length=2)
    assert result.lengths.tolist() == [[0, 0, 0]] and np.all(result.scores == NEG_INF)


@pytest.mark.parametrize(
    "options, message",
    [
        (SamplingOptions(top_k=-1), "top_k must be 0 \\(off\\) or a positive int, got -1"),
        (SamplingOptions(top_p=0.0), "top_p must be in \\(0, 1\\] \\(1: off\\), got 0.0"),
        (SamplingOptions(top_p=1.5), "top_p must be in \\(0, 1\\] \\(1: off\\), got 1.5"),
        (SamplingOptions(temperature=0.0), "temperature must be positive and finite, got 0.0"),
    ],
)
def test_bad_options_are_refused_with_the_value(options, message):
    model, state = rnn()
    with pytest.raises(ValueError, match=message):
        sample(model.step_fn, state, 3, num_samples=2, max_length=3, seed=0, options=options, **IDS)


def test_runs_from_a_saved_model_with_a_seed_input(tmp_path):
    model, state = rnn(batch=2)

    class Module(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None], tf.int64)],
            autograph=False,
        )
        def run(self, h, seed):
            result = sample(
                model.step_fn,
                {"h": h},
                tf.shape(h)[0],
                num_samples=6,
                max_length=5,
                seed=seed,
                options=SamplingOptions(top_k=3, top_p=0.9),
                **IDS,
            )
            return result._asdict()

    module = Module()
    seeds = tf.constant([9, 10], tf.int64)
    expected = module.run(state["h"], seeds)
    tf.saved_model.save(module, str(tmp_path / "sampler"))
    loaded = tf.saved_model.load(str(tmp_path / "sampler"))
    got = loaded.run(state["h"], seeds)
    for key in ("ids", "lengths", "scores"):
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
