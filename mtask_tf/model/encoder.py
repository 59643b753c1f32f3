"""The LSTM encoder of a sequence-to-sequence model."""

import keras
import tensorflow as tf

from mtask_tf.data import vocabulary
from mtask_tf.model import lstm


class Encoder(keras.layers.Layer):
    """Embeds source ids and runs them through a stacked LSTM.

    The final state initialises the decoder (paper, section 3.2); the outputs
    are what a decoder with attention attends over. Padding (id 0) leaves the
    state unchanged, so a row's final state is the one after its last real
    token (and its outputs at padded positions repeat that state's h).

    Args:
        vocabulary_size: number of word ids.
        embedding_dim: size of the word embeddings.
        units: LSTM cells per layer.
        num_layers: stacked LSTM layers.
        init_scale: uniform initialisation range.
        dropout: in training, the share of units zeroed in the word embeddings
            and between LSTM layers.
        bidirectional: two stacks of `units / 2` cells each, one reading the
            source forwards and one backwards; each output and each layer's
            final (h, c) is the two directions' concatenated, so the decoder
            sees the same shapes as with one direction. An option beyond the
            paper's text.

    Example:
    >>> encoder = Encoder(vocabulary_size=10, embedding_dim=4, units=8, num_layers=2)
    >>> outputs, states = encoder(tf.constant([[5, 6, 3, 7]]))  # [1, 4, 8], 2 x (h, c)
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        units,
        num_layers,
        init_scale=0.1,
        dropout=0.0,
        bidirectional=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if bidirectional and units % 2:
            raise ValueError(f"a bidirectional encoder needs an even number of units, got {units}")
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.init_scale = init_scale
        initializer = keras.initializers.RandomUniform(-init_scale, init_scale)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="embedding"
        )
        direction_units = units // 2 if bidirectional else units
        self.lstm = lstm.LSTMStack(direction_units, num_layers, init_scale, dropout, name="lstm")
        self.backward_lstm = (
            lstm.LSTMStack(direction_units, num_layers, init_scale, dropout, name="backward_lstm")
            if bidirectional
            else None
        )

    def build(self, source_shape):
        self.embedding.build(source_shape)
        for stack in (self.lstm, self.backward_lstm):
            if stack is not None:
                stack.build(tuple(source_shape) + (self.embedding_dim,))

    def call(self, source, training=None):
        """int [batch, time] -> outputs [batch, time, units], final (h, c) of each layer."""
        mask = tf.not_equal(source, vocabulary.PAD_ID)
        embedded = lstm.drop(self.embedding(source), self.dropout, training)
        outputs, states = self.lstm(embedded, step_mask=mask, training=training)
        if self.backward_lstm is None:
            return outputs, states
        return _with_backward(self.backward_lstm, embedded, mask, outputs, states, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            num_layers=self.num_layers,
            init_scale=self.init_scale,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )
        return config


def _with_backward(stack, embedded, mask, outputs, states, training):
    """The forward direction's outputs and states joined by `stack` run on each row reversed.

    Rows are padded at the end: each row's real tokens are reversed in place
    (tf.reverse_sequence), so the padding stays behind them and the backward
    final state is the one after the row's first token.
    """
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    reverse = lambda x: tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
    backward_outputs, backward_states = stack(reverse(embedded), step_mask=mask, training=training)
    joined = [
        (tf.concat([h, bh], axis=-1), tf.concat([c, bc], axis=-1))
        for (h, c), (bh, bc) in zip(states, backward_states)
    ]
    return tf.concat([outputs, reverse(backward_outputs)], axis=-1), joined
