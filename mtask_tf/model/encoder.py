"""The LSTM encoder of a sequence-to-sequence model."""

import keras
import tensorflow as tf

from mtask_tf.data import vocabulary
from mtask_tf.model import lstm


class Encoder(keras.layers.Layer):
    """Embeds source ids and runs them through a stacked LSTM.

    Only the final state is used: it initialises the decoder (paper, section 3.2).
    Padding (id 0) leaves the state unchanged, so a row's final state is the one
    after its last real token.

    Args:
        vocabulary_size: number of word ids.
        embedding_dim: size of the word embeddings.
        units: LSTM cells per layer.
        num_layers: stacked LSTM layers.
        init_scale: uniform initialisation range.

    Example:
    >>> encoder = Encoder(vocabulary_size=10, embedding_dim=4, units=8, num_layers=2)
    >>> states = encoder(tf.constant([[5, 6, 3, 7]]))  # 2 x (h [1, 8], c [1, 8])
    """

    def __init__(self, vocabulary_size, embedding_dim, units, num_layers, init_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.init_scale = init_scale
        initializer = keras.initializers.RandomUniform(-init_scale, init_scale)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="embedding"
        )
        self.lstm = lstm.LSTMStack(units, num_layers, init_scale, name="lstm")

    def build(self, source_shape):
        self.embedding.build(source_shape)
        self.lstm.build(tuple(source_shape) + (self.embedding_dim,))

    def call(self, source):
        """int [batch, time] -> final (h, c) of each layer, each [batch, units]."""
        mask = tf.not_equal(source, vocabulary.PAD_ID)
        _, states = self.lstm(self.embedding(source), step_mask=mask)
        return states

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            num_layers=self.num_layers,
            init_scale=self.init_scale,
        )
        return config
