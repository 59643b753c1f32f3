"""The LSTM decoder, shared by the Seq2Seq and Autoencoder graphs."""

import keras
import tensorflow as tf

from mtask_tf.model import lstm


class Decoder(keras.layers.Layer):
    """Predicts the next word from the previous one, the LSTM state and, optionally, the speaker.

    With `num_speakers > 0` this is the persona decoder (Li et al. 2016; paper
    section 3.3): speaker i's embedding s_i is part of the first LSTM layer's input
    at every step, i.e. the gates are W·[h_{t-1}; e_t; s_i]. One `Decoder` object is
    shared by the Seq2Seq and the Autoencoder models, which is the paper's
    multi-task parameter sharing.

    Args:
        vocabulary_size: number of word ids (also the size of the softmax).
        embedding_dim: size of the word embeddings.
        units: LSTM cells per layer.
        num_layers: stacked LSTM layers.
        num_speakers: number of speaker embeddings; 0 for a decoder without persona.
        speaker_dim: size of a speaker embedding (the paper's K).
        init_scale: uniform initialisation range.

    Example:
    >>> decoder = Decoder(vocabulary_size=10, embedding_dim=4, units=8, num_layers=2,
    ...                   num_speakers=3, speaker_dim=4)
    >>> state = decoder.lstm.zero_state(2)
    >>> logits = decoder(tf.constant([[2, 5], [2, 6]]), state, tf.constant([0, 2]))
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        units,
        num_layers,
        num_speakers=0,
        speaker_dim=0,
        init_scale=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_speakers and speaker_dim <= 0:
            raise ValueError(f"a persona decoder needs speaker_dim > 0, got {speaker_dim}")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.num_speakers = num_speakers
        self.speaker_dim = speaker_dim if num_speakers else 0
        self.init_scale = init_scale
        initializer = keras.initializers.RandomUniform(-init_scale, init_scale)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="embedding"
        )
        self.speaker_embedding = (
            keras.layers.Embedding(
                num_speakers,
                speaker_dim,
                embeddings_initializer=initializer,
                name="speaker_embedding",
            )
            if num_speakers
            else None
        )
        self.lstm = lstm.LSTMStack(units, num_layers, init_scale, name="lstm")
        self.output_projection = keras.layers.Dense(
            vocabulary_size,
            kernel_initializer=initializer,
            bias_initializer=initializer,
            name="output_projection",
        )

    def build(self, target_in_shape, initial_state_shape=None, speaker_shape=None):
        self.embedding.build(target_in_shape)
        if self.speaker_embedding is not None:
            self.speaker_embedding.build((None,))
        self.lstm.build((None, None, self.embedding_dim + self.speaker_dim))
        self.output_projection.build((None, self.units))

    def call(self, target_in, initial_state, speaker=None):
        """int [batch, time], (h, c) per layer, int [batch] -> logits [batch, time, vocab]."""
        inputs = self._inputs(self.embedding(target_in), speaker)
        outputs, _ = self.lstm(inputs, initial_state=initial_state)
        return self.output_projection(outputs)

    def step(self, ids, states, speaker=None):
        """One decoding step: int [n], (h, c) per layer, int [n] -> logits [n, vocab], states."""
        outputs, states = self.step_hidden(ids, states, speaker)
        return self.output_projection(outputs), states

    def step_hidden(self, ids, states, speaker=None):
        """`step` before the output projection: the last layer's h [n, units], states."""
        return self.lstm.step(self._inputs(self.embedding(ids), speaker), states)

    def _inputs(self, embedded, speaker):
        """Appends the speaker embedding to every step's word embedding."""
        if self.speaker_embedding is None:
            return embedded
        persona = self.speaker_embedding(speaker)
        if embedded.shape.rank == 3:
            persona = tf.tile(persona[:, None, :], [1, tf.shape(embedded)[1], 1])
        return tf.concat([embedded, persona], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            num_layers=self.num_layers,
            num_speakers=self.num_speakers,
            speaker_dim=self.speaker_dim,
            init_scale=self.init_scale,
        )
        return config
