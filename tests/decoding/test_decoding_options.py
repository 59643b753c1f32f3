"""Decoding options on real (tiny) models: length penalty, <unk>, guards and sampling."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.data import vocabulary
from mtask_tf.decoding import generator as generator_lib
from mtask_tf.decoding import mert
from mtask_tf.decoding import mmi
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.decoding import sampling
from tests.decoding.test_responder import FULL
from tests.decoding.test_responder import WEIGHTS
from tests.helpers import INPUTS
from tests.helpers import decode_config
from tests.helpers import random_pair


def test_rerank_features_divide_by_token_counts_to_the_power_a():
    assert mmi.rerank_features(-6.0, -8.0, 3.0, 4.0, 0.0) == (-6.0, -8.0, 2.0)
    assert mmi.rerank_features(-6.0, -8.0, 3.0, 4.0, 1.0) == (-2.0, -2.0, 2.0)
    f, r, words = mmi.rerank_features(-6.0, -8.0, 3.0, 4.0, 0.5)
    assert (f, r, words) == pytest.approx((-6.0 / math.sqrt(3.0), -4.0, 2.0))


def test_mert_gets_the_normalised_features():
    hypotheses = [
        runner.Hypothesis("a b", "A b", 0.0, -4.5, -8.0, 3, 4),
        runner.Hypothesis("a", "A", 0.0, -2.4, -12.0, 2, 4),
    ]
    [plain] = mert.nbest_lists([hypotheses])
    np.testing.assert_allclose(plain.features, [[-4.5, -8.0, 2.0], [-2.4, -12.0, 1.0]])
    [normalised] = mert.nbest_lists([hypotheses], length_penalty=1.0)
    np.testing.assert_allclose(normalised.features, [[-1.5, -2.0, 2.0], [-1.2, -3.0, 1.0]])
    # Sums prefer the shorter response (-8.4 > -8.5); per-token means the longer (-2.5 > -2.7).
    assert mert.rerank([plain], [1.0, 0.5, 0.0]) == [1]
    assert mert.rerank([normalised], [1.0, 0.5, 0.0]) == [0]


def test_responder_reranks_with_the_length_penalty_and_mert_agrees(eos_models, responder_for):
    responder = responder_for(eos_models, **FULL, **WEIGHTS, length_penalty=1.0)
    out = {k: v.numpy() for k, v in responder.generate(*INPUTS).items()}
    # "sweet prince" and "my lord sir" with EOS: 3 and 4 tokens.
    assert out["message_lengths"].tolist() == [3, 4]
    for row in range(2):
        filled = out["lengths"][row] > 0
        n = out["lengths"][row][filled]
        expected = (
            out["forward_log_prob"][row][filled] / n
            + 0.5 * out["reverse_log_prob"][row][filled] / out["message_lengths"][row]
            + 0.2 * (n - 1)
        )
        np.testing.assert_allclose(out["scores"][row][filled], expected, rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(out["scores"][row][filled]) <= 1e-6)
    # MERT's features under the same weights give the same scores and the same 1-best.
    rows = runner.decode(responder, [_triple(i) for i in range(2)], batch_size=2)
    lists = mert.nbest_lists(rows, length_penalty=1.0)
    for nbest, hypotheses in zip(lists, rows):
        np.testing.assert_allclose(
            nbest.features @ [1.0, 0.5, 0.2], [h.score for h in hypotheses], atol=1e-4
        )
    assert mert.rerank(lists, [1.0, 0.5, 0.2]) == [0, 0]
    # Without the penalty the order differs: the option does something.
    plain = responder_for(eos_models, **FULL, **WEIGHTS)
    assert plain.generate(*INPUTS)["responses"].numpy().tolist() != out["responses"].tolist()


def _triple(row):
    from mtask_tf.data import records

    context, message, speaker = (x.numpy()[row].decode() for x in INPUTS)
    return records.Triple(speaker, context, message, "")


def unk_loving(trained):
    """The model with <unk>'s output bias raised until <unk> is every step's best word."""
    bias = trained.models.decoder.output_projection.bias
    bias.assign(bias + 30.0 * tf.one_hot(vocabulary.UNK_ID, bias.shape[0]))
    return trained


def test_unk_is_never_generated_by_beam_greedy_or_sampling(tmp_path):
    forward = unk_loving(random_pair(tmp_path)[0])  # its own model: it changes the weights
    generator = generator_lib.Generator(forward.models.encoder, forward.models.decoder)
    source = forward.tokenizer.encode_source(INPUTS[0], INPUTS[1], 12).to_tensor()
    speaker = tf.constant([1, 2])
    # The model itself would say <unk> first: blocking has work to do.
    log_prob, _ = generator.score(source, speaker, tf.constant([[2], [2]]), tf.constant([[1], [1]]))
    assert np.all(log_prob.numpy() > math.log(0.99))
    beam = generator.generate(source, speaker, beam_size=4, max_length=5)
    greedy_ids, greedy_lengths = generator.greedy(source, speaker, max_length=5)
    sampled = generator.sample(source, speaker, num_samples=20, max_length=5, seed=3)
    for ids, lengths in (
        (beam.ids, beam.lengths),
        (greedy_ids[:, None], greedy_lengths[:, None]),
        (sampled.ids, sampled.lengths),
    ):
        ids, lengths = ids.numpy(), lengths.numpy()
        assert lengths.max() > 1
        tokens = ids[np.arange(ids.shape[-1]) < lengths[..., None]]
        assert vocabulary.UNK_ID not in tokens.tolist()


def _repeats(ids, length, n):
    words = ids[: length - 1].tolist()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


# Sampled lists: the option reaching the sampler is checked by
# test_sampling_config_reaches_the_sampler, the sampler's guard in test_sampling.py.
def test_responder_lists_repeat_no_ngram_with_the_guard(eos_models, responder_for):
    plain, guarded = (
        responder_for(eos_models, **FULL, **WEIGHTS, **guard).generate(*INPUTS)
        for guard in ({}, {"no_repeat_ngram_size": 1})
    )
    flat = lambda out: zip(
        out["ids"].numpy().reshape([-1, out["ids"].shape[-1]]), out["lengths"].numpy().reshape([-1])
    )
    assert any(_repeats(ids, n, 1) for ids, n in flat(plain) if n)
    assert all(not _repeats(ids, n, 1) for ids, n in flat(guarded) if n)


# The attention model (its memory read per sample); the paper's model samples in
# test_sampling_config_reaches_the_sampler and test_unk_is_never_generated_by_....
def test_sampled_lists_are_reranked_and_seeded_per_input(shared_pair):
    forward, reverse = shared_pair("luong")
    config = decode_config(
        num_samples=20, candidates=None, responses=None, mmi_lambda=0.5, sampling_seed=11
    )
    responder = responder_lib.Responder(forward, reverse, config)
    out = responder.generate(*INPUTS)
    scores = out["forward_log_prob"] + 0.5 * out["reverse_log_prob"]
    filled = out["lengths"] > 0
    np.testing.assert_allclose(out["scores"][filled], scores[filled], atol=1e-5)
    # The default seed is generate_seeded's with that seed; another seed, other samples.
    same = responder.generate_seeded(*INPUTS, tf.constant([11, 11], tf.int64))
    other = responder.generate_seeded(*INPUTS, tf.constant([12, 12], tf.int64))
    assert same["responses"].numpy().tolist() == out["responses"].numpy().tolist()
    assert other["responses"].numpy().tolist() != out["responses"].numpy().tolist()
    # An input alone gets what it got in the batch.
    alone = responder.generate(*(x[1:] for x in INPUTS))
    assert alone["responses"].numpy()[0].tolist() == out["responses"].numpy()[1].tolist()


def test_sampling_config_reaches_the_sampler(models, monkeypatch):
    forward, _ = models
    seen = {}
    real = sampling.sample

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling, "sample", spy)
    config = decode_config(
        num_samples=6,
        sampling_topk=4,
        sampling_topp=0.8,
        sampling_temperature=0.7,
        no_repeat_ngram_size=2,
        candidates=3,
    )
    responder = responder_lib.Responder(forward, None, config)
    out = responder.generate(*INPUTS)
    assert seen["options"] == sampling.SamplingOptions(4, 0.8, 0.7)
    assert (seen["num_samples"], seen["no_repeat_ngram_size"]) == (6, 2)
    assert out["lengths"].shape[1] <= 3  # candidates caps the sampled list
