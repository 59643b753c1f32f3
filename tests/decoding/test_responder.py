"""The Responder: text in, N-best out, MMI reranking, input checks; the decode CLI."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.data import records
from mtask_tf.data import tokenizer
from mtask_tf.data import vocabulary
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.decoding import runner
from mtask_tf.model import builders
from mtask_tf.training import model_dir as model_dir_lib

SPEAKERS = ["ALICE", "HAMLET", "IAGO"]
WORDS = ["good", "night", "sweet", "prince", "my", "lord", "sir"]


def _trained(tmp_path, name, persona, direction="forward", seed=0):
    """A randomly initialised model directory, as load_trained returns it."""
    directory = tmp_path / name
    directory.mkdir()
    vocabulary.save_vocabulary(directory / "vocab.txt", list(vocabulary.SPECIAL_TOKENS) + WORDS)
    model_dir_lib.write_lines(directory / "speakers.txt", SPEAKERS)
    config = builders.ModelConfig(len(WORDS) + 4, 6, 8, 2, 3 if persona else 0, 4, 0.8)
    keras.utils.set_random_seed(seed)
    models = builders.build_models(config, False)
    experiment = {"direction": direction, "lengths": {"max_source_length": 12,
                                                      "max_target_length": 6},
                  "targets": ["HAMLET", "IAGO"]}
    return model_dir_lib.TrainedModel(directory, config, experiment,
                                      tokenizer.Tokenizer(directory / "vocab.txt"),
                                      SPEAKERS, models)


@pytest.fixture()
def models(tmp_path):
    return (_trained(tmp_path, "forward", persona=True),
            _trained(tmp_path, "reverse", persona=False, direction="reverse", seed=1))


INPUTS = (tf.constant(["good night", ""]), tf.constant(["sweet prince", "my lord sir"]),
          tf.constant(["HAMLET", "IAGO"]))


def _config(**kwargs):
    return responder_lib.DecodeConfig(**{**dict(beam_size=12, max_length=5, nbest=8), **kwargs})


def test_scores_equal_teacher_forced_log_probs_and_reranking_sorts(models):
    forward, reverse = models
    responder = responder_lib.Responder(forward, reverse, _config(mmi_lambda=0.7, mmi_gamma=0.3))
    out = {k: v.numpy() for k, v in responder.generate(*INPUTS).items()}
    assert out["responses"].shape == (2, 8)
    for row in range(2):
        assert np.all(np.diff(out["scores"][row]) <= 1e-6)
        words = out["lengths"][row] - 1
        expected = (out["forward_log_prob"][row] + 0.7 * out["reverse_log_prob"][row]
                    + 0.3 * words)
        np.testing.assert_allclose(out["scores"][row], expected, rtol=1e-5, atol=1e-5)
    best = tf.constant(out["responses"][:, 0])
    scored = responder.score(*INPUTS, best)
    np.testing.assert_allclose(scored["log_prob"], out["forward_log_prob"][:, 0], atol=1e-4)
    np.testing.assert_array_equal(scored["num_tokens"], out["lengths"][:, 0])
    reverse_scored = responder.reverse_score(INPUTS[1], best)
    np.testing.assert_allclose(reverse_scored["log_prob"], out["reverse_log_prob"][:, 0],
                               atol=1e-4)


def test_reranking_changes_the_order_when_lambda_grows(models):
    forward, reverse = models
    plain_responder = responder_lib.Responder(forward, reverse, _config())
    heavy_responder = responder_lib.Responder(forward, reverse, _config(mmi_lambda=50.0))
    plain = plain_responder.generate(*INPUTS)
    heavy = heavy_responder.generate(*INPUTS)
    # Same candidates, different order: the top one maximises the reverse score.
    assert sorted(plain["responses"].numpy()[0]) == sorted(heavy["responses"].numpy()[0])
    assert heavy["reverse_log_prob"].numpy()[0, 0] == pytest.approx(
        plain["reverse_log_prob"].numpy()[0].max(), abs=1e-5)
    np.testing.assert_array_equal(plain["scores"].numpy(), plain["forward_log_prob"].numpy())


def test_persona_speaker_changes_responses_and_unknown_speaker_is_an_error(models):
    forward, _ = models
    responder = responder_lib.Responder(forward, None, _config())
    a = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["HAMLET", "HAMLET"]))
    b = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["IAGO", "IAGO"]))
    assert not np.allclose(a["scores"].numpy(), b["scores"].numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"unknown speaker\(s\):\] \[\"?NOBODY"):
        responder.generate(INPUTS[0], INPUTS[1], tf.constant(["HAMLET", "NOBODY"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty message at batch index"):
        responder.generate(INPUTS[0], tf.constant(["hi", "  "]), INPUTS[2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        responder.generate(INPUTS[0], tf.constant(["hi"]), INPUTS[2])


def test_plain_model_ignores_the_speaker(tmp_path):
    plain = _trained(tmp_path, "plain", persona=False)
    responder = responder_lib.Responder(plain, None, _config())
    a = responder.generate(*INPUTS)
    b = responder.generate(INPUTS[0], INPUTS[1], tf.constant(["whoever", "else"]))
    np.testing.assert_array_equal(a["scores"].numpy(), b["scores"].numpy())


def test_no_retracing_across_batch_sizes(models):
    forward, reverse = models
    responder = responder_lib.Responder(forward, reverse, _config())
    responder.generate(*INPUTS)
    responder.generate(*(x[:1] for x in INPUTS))
    assert responder.generate.experimental_get_tracing_count() == 1


def test_mismatched_models_are_refused(models, tmp_path):
    forward, reverse = models
    with pytest.raises(ValueError, match="not a reverse model"):
        responder_lib.Responder(forward, forward, _config())
    with pytest.raises(ValueError, match="holds a reverse model"):
        responder_lib.Responder(reverse, None, _config())


def test_runner_keeps_input_order_and_drops_empty_slots(models):
    forward, reverse = models
    responder = responder_lib.Responder(forward, reverse, _config(nbest=30, beam_size=3))
    rows = [records.Triple(s, c, m, "") for s, c, m in zip(
        ["HAMLET", "IAGO", "ALICE"], ["", "a", "b"], ["sweet prince", "lord", "good sir"])]
    results = runner.decode(responder, rows, batch_size=2)
    assert len(results) == 3
    single = runner.decode(responder, rows[2:], batch_size=1)
    assert [h.response for h in results[2]] == [h.response for h in single[0]]
    assert all(h.length > 0 and np.isfinite(h.score) for hs in results for h in hs)
