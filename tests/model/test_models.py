"""Encoder, shared decoder, persona embedding and the model builders, on tiny sizes."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.model import builders
from mtask_tf.model import decoder as decoder_lib
from mtask_tf.model import encoder as encoder_lib
from mtask_tf.model import lstm

TINY = builders.ModelConfig(
    vocabulary_size=12, embedding_dim=4, units=8, num_layers=2, num_speakers=3, speaker_dim=4
)
BATCH = {
    "source": tf.constant([[5, 6, 3, 7], [5, 3, 0, 0]]),
    "target_in": tf.constant([[2, 5, 6], [2, 7, 0]]),
    "speaker": tf.constant([0, 2]),
}


def test_one_decoder_object_serves_both_graphs():
    models = builders.build_models(TINY, with_autoencoder=True)
    decoder_vars = models.decoder.trainable_variables
    for model in (models.seq2seq, models.autoencoder):
        assert model.get_layer("decoder") is models.decoder
        model_vars = model.trainable_variables
        for v in decoder_vars:
            assert any(v is w for w in model_vars), v.path
    # The encoders are separate (paper section 4).
    seq2seq_encoder = {id(v) for v in models.encoder.trainable_variables}
    assert not seq2seq_encoder & {id(v) for v in models.autoencoder_encoder.trainable_variables}


ATTENTION = dataclasses.replace(TINY, attention="luong")


@pytest.mark.parametrize(
    "config",
    [TINY, ATTENTION, dataclasses.replace(ATTENTION, bidirectional=True)],
    ids=["plain", "attention", "bidirectional"],
)
def test_step_by_step_decoding_matches_teacher_forcing(config):
    models = builders.build_models(config, with_autoencoder=False)
    logits = models.seq2seq(BATCH)
    outputs, states = models.encoder(BATCH["source"])
    memory = models.decoder.attention_memory(outputs, BATCH["source"] != 0)
    state = models.decoder.initial_state(states)
    for t in range(3):
        step_logits, state = models.decoder.step(
            BATCH["target_in"][:, t], state, BATCH["speaker"], memory
        )
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)


def test_steps_of_several_hypotheses_per_input_read_their_own_input():
    # Beam search runs rows grouped by input: rows 0-2 attend over input 0's memory.
    models = builders.build_models(ATTENTION, with_autoencoder=False)
    outputs, states = models.encoder(BATCH["source"])
    memory = models.decoder.attention_memory(outputs, BATCH["source"] != 0)
    tiled = lambda x: tf.repeat(x, 3, axis=0)
    state = tf.nest.map_structure(tiled, models.decoder.initial_state(states))
    grouped, _ = models.decoder.step(tf.fill([6], 2), state, tiled(BATCH["speaker"]), memory)
    one_each, _ = models.decoder.step(
        tf.fill([6], 2), state, tiled(BATCH["speaker"]), tf.nest.map_structure(tiled, memory)
    )
    np.testing.assert_allclose(grouped, one_each, atol=1e-6)
    assert not np.allclose(grouped[0], grouped[3])


def test_padding_a_source_longer_leaves_the_attention_model_unchanged():
    model = builders.build_models(ATTENTION, with_autoencoder=False).seq2seq
    short = dict(BATCH, source=tf.constant([[5, 6, 3], [5, 3, 0]]))
    padded = dict(BATCH, source=tf.constant([[5, 6, 3, 0, 0, 0], [5, 3, 0, 0, 0, 0]]))
    different = dict(BATCH, source=tf.constant([[5, 6, 3, 7, 0, 0], [5, 3, 0, 0, 0, 0]]))
    np.testing.assert_allclose(model(short), model(padded), atol=1e-6)
    assert not np.allclose(model(short)[0], model(different)[0], atol=1e-6)


def test_attention_weights_sum_to_one_over_real_source_positions():
    models = builders.build_models(ATTENTION, with_autoencoder=False)
    outputs, states = models.encoder(BATCH["source"])
    mask = BATCH["source"] != 0
    memory = models.decoder.attention_memory(outputs, mask)
    weights = models.decoder.attention_weights(
        BATCH["target_in"], states, BATCH["speaker"], memory
    ).numpy()  # [batch, target_time, source_time]
    assert weights.shape == (2, 3, 4)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weights[1, :, 2:], 0.0)  # padded positions
    assert (weights[:, :, :2] > 0).all()


@pytest.mark.parametrize("config", [TINY, ATTENTION], ids=["plain", "attention"])
def test_dropout_acts_in_training_only(config):
    models = builders.build_models(dataclasses.replace(config, dropout=0.3), True)
    for model in (models.seq2seq, models.autoencoder):
        np.testing.assert_array_equal(model(BATCH), model(BATCH, training=False))
        first, second = model(BATCH, training=True), model(BATCH, training=True)
        assert not np.allclose(first, second)
    without = builders.build_models(config, False).seq2seq
    np.testing.assert_array_equal(without(BATCH, training=True), without(BATCH))


def test_a_dropout_model_has_the_same_variables_as_one_without():
    # Checkpoints stay interchangeable: dropout adds no variable (no seed state).
    paths = lambda config: [v.path for v in builders.build_models(config, True).seq2seq.weights]
    assert paths(dataclasses.replace(ATTENTION, dropout=0.2)) == paths(ATTENTION)


def test_padding_does_not_change_the_encoder_state():
    encoder = encoder_lib.Encoder(12, 4, 8, 2)
    short = encoder(tf.constant([[5, 6, 3]]))[1]
    padded = encoder(tf.constant([[5, 6, 3, 0, 0]]))[1]
    different = encoder(tf.constant([[5, 6, 3, 7, 7]]))[1]
    for (h, c), (hp, cp) in zip(short, padded):
        np.testing.assert_allclose(h, hp, atol=1e-6)
        np.testing.assert_allclose(c, cp, atol=1e-6)
    assert not np.allclose(short[-1][0], different[-1][0])


def test_bidirectional_encoder_joins_a_forward_and_a_backward_reading():
    encoder = encoder_lib.Encoder(12, 4, 8, 2, bidirectional=True)
    source = tf.constant([[5, 6, 3, 0, 0], [7, 8, 9, 10, 11]])
    outputs, states = encoder(source)
    assert outputs.shape == (2, 5, 8) and [h.shape for h, _ in states] == [(2, 8)] * 2
    embedded = encoder.embedding(source)
    forward, forward_states = encoder.lstm(embedded[:1, :3])
    backward, backward_states = encoder.backward_lstm(tf.reverse(embedded[:1, :3], axis=[1]))
    # Row 0's real tokens: the forward stack read left to right, the backward one
    # right to left (its output at a token is after reading the tokens to its right).
    np.testing.assert_allclose(outputs[:1, :3, :4], forward, atol=1e-6)
    np.testing.assert_allclose(outputs[:1, :3, 4:], tf.reverse(backward, axis=[1]), atol=1e-6)
    for (h, c), (fh, fc), (bh, bc) in zip(states, forward_states, backward_states):
        np.testing.assert_allclose(h[:1], tf.concat([fh, bh], -1), atol=1e-6)
        np.testing.assert_allclose(c[:1], tf.concat([fc, bc], -1), atol=1e-6)
    # The padding after a row's tokens changes neither its outputs nor its state.
    short_outputs, short_states = encoder(source[:1, :3])
    np.testing.assert_allclose(outputs[:1, :3], short_outputs, atol=1e-6)
    np.testing.assert_allclose(states[-1][0][:1], short_states[-1][0], atol=1e-6)


def test_bidirectional_option_is_saved_and_builds_both_directions(tmp_path):
    config = dataclasses.replace(ATTENTION, bidirectional=True)
    config.save(tmp_path / "model.json")
    assert builders.ModelConfig.load(tmp_path / "model.json") == config
    ATTENTION.save(tmp_path / "plain.json")
    assert "bidirectional" not in (tmp_path / "plain.json").read_text()
    models = builders.build_models(config, with_autoencoder=True)
    paths = [v.path for v in models.seq2seq.weights]
    assert "encoder/backward_lstm/kernel_0" in paths
    assert [p for p in paths if "lstm/kernel_0" in p and "encoder" in p] == [
        "encoder/lstm/kernel_0",
        "encoder/backward_lstm/kernel_0",
    ]
    assert models.seq2seq(BATCH).shape == models.seq2seq(BATCH, training=True).shape
    with pytest.raises(ValueError, match="even number of units"):
        encoder_lib.Encoder(12, 4, 7, 2, bidirectional=True)


def test_persona_decoder_depends_on_the_speaker_and_plain_one_does_not():
    persona = builders.build_models(TINY, with_autoencoder=False).seq2seq
    plain = builders.build_models(
        builders.ModelConfig(**{**TINY.__dict__, "num_speakers": 0}), False
    ).seq2seq
    other = dict(BATCH, speaker=tf.constant([1, 1]))
    assert not np.allclose(persona(BATCH), persona(other))
    np.testing.assert_array_equal(plain(BATCH), plain(other))


def test_weights_start_uniform_in_init_scale():
    models = builders.build_models(TINY, with_autoencoder=True)
    for v in models.seq2seq.trainable_variables + models.autoencoder.trainable_variables:
        values = v.numpy()
        assert np.abs(values).max() <= 0.1 + 1e-7, v.path
        assert values.std() > 0.02, v.path  # Not zeros or a constant.


@pytest.mark.parametrize(
    "layer",
    [
        lstm.LSTMStack(8, 2, 0.05),
        encoder_lib.Encoder(12, 4, 8, 2, 0.05),
        decoder_lib.Decoder(12, 4, 8, 2, num_speakers=3, speaker_dim=4, init_scale=0.05),
        decoder_lib.Decoder(12, 4, 8, 2, dropout=0.2, attention="luong"),
        encoder_lib.Encoder(12, 4, 8, 2, dropout=0.2),
        encoder_lib.Encoder(12, 4, 8, 2, bidirectional=True),
    ],
)
def test_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_lstm_matches_the_lstm_equations():
    layer = lstm.LSTMStack(units=3, num_layers=1)
    x = tf.random.stateless_uniform([2, 4, 5], seed=[1, 2])
    outputs, [(h, c)] = layer(x)
    kernel, recurrent, bias = (w.numpy() for w in layer.weights)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    h_ref, c_ref = np.zeros([2, 3]), np.zeros([2, 3])
    for t in range(4):
        gates = x[:, t].numpy() @ kernel + h_ref @ recurrent + bias
        i, f, g, o = np.split(gates, 4, axis=-1)
        c_ref = sigmoid(f) * c_ref + sigmoid(i) * np.tanh(g)
        h_ref = sigmoid(o) * np.tanh(c_ref)
        np.testing.assert_allclose(outputs[:, t], h_ref, atol=1e-5)
    np.testing.assert_allclose(h, h_ref, atol=1e-5)
    np.testing.assert_allclose(c, c_ref, atol=1e-5)


def _unrolled_lstm(projected, h, c, recurrent_kernel, keep):
    """The LSTM recurrence as plain ops over Python steps: TensorFlow differentiates it."""
    outputs = []
    for t in range(projected.shape[0]):
        i, f, g, o = tf.split(projected[t] + h @ recurrent_kernel, 4, axis=-1)
        c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h_new = tf.sigmoid(o) * tf.tanh(c_new)
        if keep is not None:
            h_new = tf.where(keep[t][:, None], h_new, h)
            c_new = tf.where(keep[t][:, None], c_new, c)
        h, c = h_new, c_new
        outputs.append(h)
    return tf.stack(outputs), h, c


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("final_state_used", [False, True])
def test_hand_written_lstm_gradient_equals_automatic_differentiation(masked, final_state_used):
    rng = np.random.default_rng(3)
    time, batch, units = 6, 3, 4
    tensor = lambda *shape, scale=1.0: tf.constant(scale * rng.normal(size=shape), tf.float32)
    inputs = [
        tensor(time, batch, 4 * units),
        tensor(batch, units),
        tensor(batch, units),
        tensor(units, 4 * units, scale=0.5),
    ]
    keep = tf.constant(rng.random([time, batch]) > 0.3) if masked else None
    weights = [tensor(time, batch, units), tensor(batch, units), tensor(batch, units)]

    def gradients(fn):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(*inputs, keep)
            used = outputs if final_state_used else outputs[:1]
            loss = sum(tf.reduce_sum(x * w) for x, w in zip(used, weights))
        return outputs, tape.gradient(loss, inputs)

    got = gradients(tf.function(lstm._recurrence))
    expected = gradients(_unrolled_lstm)
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(expected)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "config", [TINY, dataclasses.replace(ATTENTION, dropout=0.2)], ids=["paper", "options"]
)
def test_model_config_file_round_trip(tmp_path, config):
    config.save(tmp_path / "model.json")
    assert builders.ModelConfig.load(tmp_path / "model.json") == config


def test_model_config_file_of_the_papers_model_leaves_the_options_out(tmp_path):
    # model.json of models trained before the options existed stays byte-identical.
    TINY.save(tmp_path / "model.json")
    assert "attention" not in (tmp_path / "model.json").read_text()
    assert "dropout" not in (tmp_path / "model.json").read_text()


def test_bad_options_are_refused_with_their_values():
    with pytest.raises(ValueError, match="attention must be one of none, luong, got 'bahdanau'"):
        builders.build_models(dataclasses.replace(TINY, attention="bahdanau"), False)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        builders.build_models(dataclasses.replace(TINY, dropout=1.0), False)
