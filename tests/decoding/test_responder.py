"""The Responder: text in, N-best out, MMI reranking, input checks; the decode CLI."""

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.data import records
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.model import model_dir as model_dir_lib
from tests.helpers import BOTH_MODELS
from tests.helpers import INPUTS
from tests.helpers import decode_config
from tests.helpers import favour_eos
from tests.helpers import random_model


@BOTH_MODELS
def test_scores_equal_teacher_forced_log_probs_and_reranking_sorts(models):
    forward, reverse = models
    responder = responder_lib.Responder(
        forward, reverse, decode_config(mmi_lambda=0.7, mmi_gamma=0.3)
    )
    out = {k: v.numpy() for k, v in responder.generate(*INPUTS).items()}
    assert out["responses"].shape == (2, 8)
    for row in range(2):
        assert np.all(np.diff(out["scores"][row]) <= 1e-6)
        words = out["lengths"][row] - 1
        expected = out["forward_log_prob"][row] + 0.7 * out["reverse_log_prob"][row] + 0.3 * words
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


def test_reranking_changes_the_order_when_lambda_grows(models):
    forward, reverse = models
    plain_responder = responder_lib.Responder(forward, reverse, decode_config())
    heavy_responder = responder_lib.Responder(forward, reverse, decode_config(mmi_lambda=50.0))
    plain = plain_responder.generate(*INPUTS)
    heavy = heavy_responder.generate(*INPUTS)
    # Same candidates, different order: the top one maximises the reverse score.
    assert sorted(plain["responses"].numpy()[0]) == sorted(heavy["responses"].numpy()[0])
    assert heavy["reverse_log_prob"].numpy()[0, 0] == pytest.approx(
        plain["reverse_log_prob"].numpy()[0].max(), abs=1e-5
    )
    np.testing.assert_array_equal(plain["scores"].numpy(), plain["forward_log_prob"].numpy())
    # ... and the order did change.
    assert plain["responses"].numpy().tolist() != heavy["responses"].numpy().tolist()


@BOTH_MODELS
def test_persona_speaker_changes_responses_and_unknown_speaker_is_an_error(models):
    forward, _ = models
    responder = responder_lib.Responder(forward, None, decode_config())
    a = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["HAMLET", "HAMLET"]))
    b = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["IAGO", "IAGO"]))
    assert not np.allclose(a["scores"].numpy(), b["scores"].numpy())
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


def test_mismatched_models_are_refused(models, tmp_path):
    forward, reverse = models
    with pytest.raises(ValueError, match="not a reverse model"):
        responder_lib.Responder(forward, forward, decode_config())
    with pytest.raises(ValueError, match="holds a reverse model"):
        responder_lib.Responder(reverse, None, decode_config())


def test_runner_keeps_input_order_and_drops_empty_slots(models):
    forward, reverse = models
    responder = responder_lib.Responder(
        forward, reverse, decode_config(candidates=None, responses=None, beam_size=3)
    )
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
def test_full_list_holds_more_than_a_beam_and_a_low_forward_candidate_can_win(models):
    """The paper's list: every finished hypothesis is reranked, not the forward top B."""
    forward, reverse = favour_eos(models[0]), models[1]
    beam = 3
    settings = dict(beam_size=beam, max_length=5, candidates=None, responses=None)
    plain = responder_lib.Responder(forward, reverse, decode_config(**settings))
    out = {k: v.numpy() for k, v in plain.generate(*INPUTS).items()}
    counts = (out["lengths"] > 0).sum(axis=1)
    assert (counts > beam).all(), counts  # random tiny models finish early and often
    assert counts.max() <= beam * 5
    # MMI with a strong length reward (gamma) prefers long candidates, which the
    # forward score ranks low: the winner comes from below the forward top B.
    weights = dict(mmi_lambda=0.5, mmi_gamma=20.0)
    heavy = responder_lib.Responder(forward, reverse, decode_config(**weights, **settings))
    top = {k: v.numpy() for k, v in heavy.generate(*INPUTS).items()}
    winners = []
    for row in range(2):
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
    cut = responder_lib.Responder(
        forward, reverse, decode_config(**weights, **{**settings, "candidates": beam})
    )
    cut_top = cut.generate(*INPUTS)["responses"].numpy()[:, 0]
    row = int(np.argmax(winners))
    assert cut_top[row] != top["responses"][row, 0]


def test_responses_cuts_the_reranked_list_and_candidates_the_searched_one(models):
    forward, reverse = favour_eos(models[0]), models[1]
    full = responder_lib.Responder(
        forward,
        reverse,
        decode_config(beam_size=3, candidates=None, responses=None, mmi_lambda=0.5, mmi_gamma=0.2),
    )
    two = responder_lib.Responder(
        forward,
        reverse,
        decode_config(beam_size=3, candidates=None, responses=2, mmi_lambda=0.5, mmi_gamma=0.2),
    )
    a = {k: v.numpy() for k, v in full.generate(*INPUTS).items()}
    b = {k: v.numpy() for k, v in two.generate(*INPUTS).items()}
    assert b["responses"].shape == (2, 2)
    for key in ("responses", "scores", "forward_log_prob", "reverse_log_prob", "lengths"):
        np.testing.assert_array_equal(a[key][:, :2], b[key])
    four_kept = responder_lib.Responder(
        forward, reverse, decode_config(beam_size=3, candidates=4, responses=None)
    )
    four = four_kept.generate(*INPUTS)
    assert four["lengths"].shape[1] == 4
    forward_only = np.sort(a["forward_log_prob"], axis=1)[:, ::-1][:, :4]
    np.testing.assert_allclose(
        np.sort(four["forward_log_prob"].numpy(), axis=1)[:, ::-1], forward_only, atol=1e-5
    )


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_scoring_in_chunks_equals_scoring_at_once(models, rows):
    forward, _ = models
    generator = responder_lib.Responder(forward, None, decode_config()).forward
    rng = np.random.default_rng(rows)
    source = tf.constant(rng.integers(4, 11, [rows, 5]), tf.int32)
    target = rng.integers(4, 11, [rows, 4])
    target_in = tf.constant(np.concatenate([np.full([rows, 1], 2), target], 1), tf.int32)
    target_out = tf.constant(np.concatenate([target, np.full([rows, 1], 3)], 1), tf.int32)
    speaker = tf.constant(rng.integers(0, 3, [rows]), tf.int32)
    whole = generator.score(source, speaker, target_in, target_out)
    # A budget of two rows' logits: 7 rows go in chunks of 2, 2, 2 and 1.
    chunked = tf.function(generator.score_in_chunks)(
        source, speaker, target_in, target_out, budget=2 * 5 * 11
    )
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
    chunked = tf.function(generator.score_in_chunks)(
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
