"""The Responder: text in, N-best out, MMI reranking, input checks; the decode CLI."""

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.data import records
from mtask_tf.decoding import generator as generator_lib
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.model import model_dir as model_dir_lib
from tests.helpers import BOTH_MODELS
from tests.helpers import INPUTS
from tests.helpers import decode_config
from tests.helpers import random_model

# Most tests read one full list (every finished hypothesis of a beam of 3, at
# most 5 tokens) of the paper's model finishing early, reranked in a few ways:
# the Responders are shared (`responder_for`), each graph traced once.
FULL = dict(beam_size=3, candidates=None, responses=None)
WEIGHTS = dict(mmi_lambda=0.5, mmi_gamma=0.2)
LONG = dict(mmi_lambda=0.5, mmi_gamma=20.0)  # a strong length reward
# The paper's model (finishing early) and the attention model (its memory carried per hypothesis).
PLAIN_AND_ATTENTION = pytest.mark.parametrize(
    "models", ["eos", "luong"], ids=["plain", "attention"], indirect=True
)


def _generate(responder, inputs=INPUTS):
    return {k: v.numpy() for k, v in responder.generate(*inputs).items()}


@PLAIN_AND_ATTENTION
def test_scores_equal_teacher_forced_log_probs_and_reranking_sorts(models, responder_for):
    responder = responder_for(models, **FULL, **WEIGHTS)
    out = _generate(responder)
    for row in range(2):
        filled = out["lengths"][row] > 0
        assert np.all(np.diff(out["scores"][row][filled]) <= 1e-6)
        words = out["lengths"][row] - 1
        expected = out["forward_log_prob"][row] + 0.5 * out["reverse_log_prob"][row] + 0.2 * words
        expected = np.where(filled, expected, -np.inf)  # empty slots: -inf, last
        np.testing.assert_allclose(out["scores"][row], expected, rtol=1e-5, atol=1e-5)
    best = tf.constant(out["responses"][:, 0])
    scored = responder.score(*INPUTS, best)
    np.testing.assert_allclose(scored["log_prob"], out["forward_log_prob"][:, 0], atol=1e-4)
    np.testing.assert_array_equal(scored["num_tokens"], out["lengths"][:, 0])
    reverse_scored = responder.reverse_score(INPUTS[1], best)
    np.testing.assert_allclose(reverse_scored["log_prob"], out["reverse_log_prob"][:, 0], atol=1e-4)
    # Another batch size runs the same graph: no retracing.
    responder.generate(*(x[:1] for x in INPUTS))
    assert responder.generate.experimental_get_tracing_count() == 1


@PLAIN_AND_ATTENTION
def test_persona_speaker_changes_responses_and_unknown_speaker_is_an_error(models, responder_for):
    responder = responder_for(models, **FULL, **WEIGHTS)
    a = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["HAMLET", "HAMLET"]))
    b = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["IAGO", "IAGO"]))
    assert not np.allclose(a["forward_log_prob"][:, 0], b["forward_log_prob"][:, 0])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"unknown speaker\(s\):\] \[\"?NOBODY"
    ):
        responder.generate(INPUTS[0], INPUTS[1], tf.constant(["HAMLET", "NOBODY"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty message at batch index"):
        responder.generate(INPUTS[0], tf.constant(["hi", "  "]), INPUTS[2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        responder.generate(INPUTS[0], tf.constant(["hi"]), INPUTS[2])


def test_plain_model_ignores_the_speaker(tmp_path):
    plain = random_model(tmp_path, "plain", persona=False)
    responder = responder_lib.Responder(plain, None, decode_config())
    a = responder.generate(*INPUTS)
    b = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["whoever", "else"]))
    np.testing.assert_array_equal(a["scores"].numpy(), b["scores"].numpy())


def test_mismatched_models_are_refused(models):
    forward, reverse = models
    with pytest.raises(ValueError, match="not a reverse model"):
        responder_lib.Responder(forward, forward, decode_config())
    with pytest.raises(ValueError, match="holds a reverse model"):
        responder_lib.Responder(reverse, None, decode_config())


def test_runner_keeps_input_order_and_drops_empty_slots(eos_models, responder_for):
    responder = responder_for(eos_models, **FULL, **WEIGHTS)
    rows = [
        records.Triple(s, c, m, "")
        for s, c, m in zip(
            ["HAMLET", "IAGO", "ALICE"], ["", "a", "b"], ["sweet prince", "lord", "good sir"]
        )
    ]
    results = runner.decode(responder, rows, batch_size=2)
    assert len(results) == 3
    single = runner.decode(responder, rows[2:], batch_size=1)
    assert [h.response for h in results[2]] == [h.response for h in single[0]]
    assert all(h.length > 0 and np.isfinite(h.score) for hs in results for h in hs)


def _forward_ranks(out, row):
    """Each returned candidate's rank (0 = best) by forward score alone."""
    forward = out["forward_log_prob"][row]
    return [int(np.sum(forward > f)) for f in forward]


# The paper's model only: the list and the reranking do not depend on the decoder;
# the attention model's beam (its memory carried per hypothesis) is checked by
# test_scores_equal_teacher_forced_log_probs_and_reranking_sorts[attention].
def test_full_list_holds_more_than_a_beam_and_a_low_forward_candidate_can_win(
    eos_models, responder_for
):
    """The paper's list: every finished hypothesis is reranked, not the forward top B."""
    beam = FULL["beam_size"]
    out = _generate(responder_for(eos_models, **FULL, **WEIGHTS))
    counts = (out["lengths"] > 0).sum(axis=1)
    assert (counts > beam).all(), counts  # random tiny models finish early and often
    assert counts.max() <= beam * 5
    # MMI with a strong length reward (gamma) prefers long candidates, which the
    # forward score ranks low: the winner comes from below the forward top B.
    top = _generate(responder_for(eos_models, **FULL, **LONG))
    winners = []
    for row in range(2):
        assert sorted(top["responses"][row]) == sorted(out["responses"][row])  # reordered only
        filled = out["lengths"][row] > 0
        score = (
            out["forward_log_prob"][row]
            + 0.5 * out["reverse_log_prob"][row]
            + 20.0 * (out["lengths"][row] - 1)
        )
        best = int(np.argmax(np.where(filled, score, -np.inf)))
        assert top["responses"][row, 0] == out["responses"][row, best]
        winners.append(_forward_ranks(out, row)[best])
    assert max(winners) >= beam, winners
    # Cut to the forward top B first (the old list), that candidate could not win.
    cut = _generate(responder_for(eos_models, **{**FULL, "candidates": beam}, **LONG))
    row = int(np.argmax(winners))
    assert cut["responses"][row, 0] != top["responses"][row, 0]


def test_responses_cuts_the_reranked_list_and_candidates_the_searched_one(
    eos_models, responder_for
):
    a = _generate(responder_for(eos_models, **FULL, **WEIGHTS))
    b = _generate(responder_for(eos_models, **{**FULL, "responses": 2}, **WEIGHTS))
    assert b["responses"].shape == (2, 2)
    for key in ("responses", "scores", "forward_log_prob", "reverse_log_prob", "lengths"):
        np.testing.assert_array_equal(a[key][:, :2], b[key])
    # candidates=3 keeps the search's forward top 3 (then reranked, here with LONG).
    three = _generate(responder_for(eos_models, **{**FULL, "candidates": 3}, **LONG))
    assert three["lengths"].shape[1] == 3
    forward_only = np.sort(a["forward_log_prob"], axis=1)[:, ::-1][:, :3]
    np.testing.assert_allclose(
        np.sort(three["forward_log_prob"], axis=1)[:, ::-1], forward_only, atol=1e-5
    )


@pytest.fixture(scope="module")
def chunked_and_whole(shared_pair):
    """The paper's model: score_in_chunks with a budget of two rows' logits (traced once), score."""
    forward = shared_pair("none")[0]
    generator = generator_lib.Generator(forward.models.encoder, forward.models.decoder)
    ids, row = tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)
    chunked = tf.function(
        lambda *args: generator.score_in_chunks(*args, budget=2 * 5 * 11),
        input_signature=[ids, row, ids, ids],
        autograph=False,
    )
    return chunked, generator.score


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_scoring_in_chunks_equals_scoring_at_once(chunked_and_whole, rows):
    score_in_chunks, score = chunked_and_whole
    rng = np.random.default_rng(rows)
    source = tf.constant(rng.integers(4, 11, [rows, 5]), tf.int32)
    target = rng.integers(4, 11, [rows, 4])
    target_in = tf.constant(np.concatenate([np.full([rows, 1], 2), target], 1), tf.int32)
    target_out = tf.constant(np.concatenate([target, np.full([rows, 1], 3)], 1), tf.int32)
    speaker = tf.constant(rng.integers(0, 3, [rows]), tf.int32)
    whole = score(source, speaker, target_in, target_out)
    # 7 rows go in chunks of 2, 2, 2 and 1.
    chunked = score_in_chunks(source, speaker, target_in, target_out)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(chunked[1], whole[1])
    assert chunked[0].shape == (rows,)


@BOTH_MODELS
def test_scoring_in_chunks_cuts_each_group_to_its_own_lengths_and_keeps_the_order(models):
    # Rows of very different target and source lengths, right-padded, in no
    # particular order: each chunk is cut to its longest row, results come
    # back in the input order and equal scoring every row on its own.
    forward, _ = models
    generator = responder_lib.Responder(forward, None, decode_config()).forward
    rng = np.random.default_rng(3)
    target_lengths, source_lengths = [2, 9, 1, 5, 9, 3, 7], [6, 1, 3, 6, 2, 4, 5]
    rows, width = len(target_lengths), max(target_lengths) + 1
    source = np.zeros([rows, 8], np.int32)
    target_in = np.zeros([rows, width], np.int32)
    target_out = np.zeros([rows, width], np.int32)
    for row, (t, s) in enumerate(zip(target_lengths, source_lengths)):
        source[row, :s] = rng.integers(4, 11, s)
        words = rng.integers(4, 11, t)
        target_in[row, : t + 1] = [2, *words]
        target_out[row, : t + 1] = [*words, 3]
    speaker = rng.integers(0, 3, [rows]).astype(np.int32)
    alone = [
        generator.score(
            source[r : r + 1, : source_lengths[r]],
            speaker[r : r + 1],
            target_in[r : r + 1, : target_lengths[r] + 1],
            target_out[r : r + 1, : target_lengths[r] + 1],
        )
        for r in range(rows)
    ]
    # Room for the logits of three rows of the longest target only.
    chunked = tf.function(generator.score_in_chunks, autograph=False)(
        source, speaker, target_in, target_out, budget=3 * width * 11
    )
    np.testing.assert_allclose(chunked[0], [a[0][0] for a in alone], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(chunked[1], [t + 1 for t in target_lengths])


def test_experiment_record_reads_into_a_frozen_dataclass_and_bad_records_name_the_file(tmp_path):
    import dataclasses
    import json

    record = {
        "direction": "reverse",
        "lengths": {"max_source_length": 30, "max_target_length": 20},
        "model": "seq2seq",
        "multitask": False,
        "targets": ["HAMLET"],
    }
    (tmp_path / "experiment.json").write_text(json.dumps(record))
    experiment = model_dir_lib.load_experiment(tmp_path)
    assert experiment.reverse and experiment.targets == ("HAMLET",)
    assert experiment.lengths == record["lengths"] and experiment.record == record
    with pytest.raises(dataclasses.FrozenInstanceError):
        experiment.direction = "forward"
    (tmp_path / "experiment.json").write_text(json.dumps({"direction": "forward"}))
    with pytest.raises(model_dir_lib.ModelDirError, match=r"experiment.json: not an experiment"):
        model_dir_lib.load_experiment(tmp_path)
    (tmp_path / "experiment.json").write_text("{")
    with pytest.raises(model_dir_lib.ModelDirError, match=r"experiment.json: not JSON"):
        model_dir_lib.load_experiment(tmp_path)
