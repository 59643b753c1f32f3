"""Attention does its job: a task the decoder can solve only by looking back at its input."""

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.model import builders
from mtask_tf.model import losses
from mtask_tf.training import optimizers

VOCABULARY, SOURCE_LENGTH = 24, 8


def _batch(rng, size):
    """The answer is the first of eight random words: the encoder's last state has long
    moved on from it, but an attention decoder can look it up."""
    source = rng.integers(5, VOCABULARY, [size, SOURCE_LENGTH])
    answer = source[:, :1]
    feed = {
        "source": tf.constant(source, tf.int32),
        "target_in": tf.constant(np.concatenate([np.full([size, 1], 2), answer], 1), tf.int32),
        "speaker": tf.zeros([size], tf.int32),
    }
    return feed, tf.constant(np.concatenate([answer, np.full([size, 1], 3)], 1), tf.int32)


def _accuracy_after_training(attention, steps=400):
    tf.keras.utils.set_random_seed(1)
    config = builders.ModelConfig(VOCABULARY, 16, 16, 1, attention=attention)
    model = builders.build_models(config, with_autoencoder=False).seq2seq
    optimizer = optimizers.FusedAdam(0.01)
    optimizer.build(model.trainable_variables)

    @tf.function
    def train_step(feed, target_out):
        with tf.GradientTape() as tape:
            nll, weights = losses.token_nll(model(feed, training=True), target_out)
            loss = tf.reduce_sum(nll) / tf.reduce_sum(weights)
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    rng = np.random.default_rng(0)
    for _ in range(steps):
        train_step(*_batch(rng, 64))
    feed, target_out = _batch(np.random.default_rng(1), 500)
    predicted = tf.argmax(model(feed)[:, 0], axis=-1, output_type=tf.int32)
    return float(tf.reduce_mean(tf.cast(predicted == target_out[:, 0], tf.float32)))


@pytest.mark.slow
def test_attention_finds_a_word_of_the_input_that_the_plain_decoder_cannot():
    chance = 1 / (VOCABULARY - 5)
    with_attention = _accuracy_after_training("luong")
    without = _accuracy_after_training("none")
    # Measured: 0.6-0.7 with attention, about chance (0.05) without.
    assert with_attention > 0.4, with_attention
    assert without < 3 * chance, without
