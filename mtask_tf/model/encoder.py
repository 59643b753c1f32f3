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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dropout = dropout
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.init_scale = init_scale
        initializer = keras.initializers.RandomUniform(-init_scale, init_scale)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="embedding"
        )
        self.lstm = lstm.LSTMStack(units, num_layers, init_scale, dropout, name="lstm")

    def build(self, source_shape):
        self.embedding.build(source_shape)
        self.lstm.build(tuple(source_shape) + (self.embedding_dim,))

    def call(self, source, training=None):
        """int [batch, time] -> outputs [batch, time, units], final (h, c) of each layer."""
        mask = tf.not_equal(source, vocabulary.PAD_ID)
        embedded = lstm.drop(self.embedding(source), self.dropout, training)
        return self.lstm(embedded, step_mask=mask, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            num_layers=self.num_layers,
            init_scale=self.init_scale,
            dropout=self.dropout,
        )
        return config
