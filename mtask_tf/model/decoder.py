"""The LSTM decoder, shared by the Seq2Seq and Autoencoder graphs."""

import keras
import tensorflow as tf

from mtask_tf.model import attention as attention_lib
from mtask_tf.model import lstm

ATTENTION_TYPES = ("none", "luong")


class Decoder(keras.layers.Layer):
    """Predicts the next word from the previous one, the LSTM state and, optionally, the speaker.

    With `num_speakers > 0` this is the persona decoder (Li et al. 2016; paper
    section 3.3): speaker i's embedding s_i is part of the first LSTM layer's input
    at every step, i.e. the gates are W·[h_{t-1}; e_t; s_i]. One `Decoder` object is
    shared by the Seq2Seq and the Autoencoder models, which is the paper's
    multi-task parameter sharing.

    With `attention="luong"` the decoder also attends over the encoder's outputs
    (`attention.LuongAttention`, with input feeding: the first layer reads
    [e_t; s_i; h~_{t-1}]) and projects the attentional vector h~_t instead of the
    LSTM output. The attention is part of this one object, so both tasks train
    it, each over its own encoder's outputs. Input feeding makes each step depend
    on the last, so training runs the steps in a loop (`_attend_sequence`).

    The decoder's state in `step` is the LSTM's (h, c) per layer, and with
    attention also h~ of the previous step: `initial_state` makes it from the
    encoder's final states.

    Args:
        vocabulary_size: number of word ids (also the size of the softmax).
        embedding_dim: size of the word embeddings.
        units: LSTM cells per layer.
        num_layers: stacked LSTM layers.
        num_speakers: number of speaker embeddings; 0 for a decoder without persona.
        speaker_dim: size of a speaker embedding (the paper's K).
        init_scale: uniform initialisation range.
        dropout: in training, the share of units zeroed in the word and speaker
            inputs, between LSTM layers and before the output projection (on
            h~ with attention, which is also what the next step is fed).
        attention: "none" (the paper's decoder) or "luong".

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
        dropout=0.0,
        attention="none",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_speakers and speaker_dim <= 0:
            raise ValueError(f"a persona decoder needs speaker_dim > 0, got {speaker_dim}")
        if attention not in ATTENTION_TYPES:
            raise ValueError(
                f"attention must be one of {', '.join(ATTENTION_TYPES)}, got {attention!r}"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.num_speakers = num_speakers
        self.speaker_dim = speaker_dim if num_speakers else 0
        self.init_scale = init_scale
        self.dropout = dropout
        self.attention_type = attention
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
        self.lstm = lstm.LSTMStack(units, num_layers, init_scale, dropout, name="lstm")
        self.attention = (
            attention_lib.LuongAttention(units, init_scale, name="attention")
            if attention == "luong"
            else None
        )
        self.output_projection = keras.layers.Dense(
            vocabulary_size,
            kernel_initializer=initializer,
            bias_initializer=initializer,
            name="output_projection",
        )

    @property
    def input_dim(self):
        """Size of the first LSTM layer's input at a step: word, speaker, fed h~."""
        feed = self.units if self.attention is not None else 0
        return self.embedding_dim + self.speaker_dim + feed

    def build(self, target_in_shape, initial_state_shape=None, speaker_shape=None, *_, **__):
        self.embedding.build(target_in_shape)
        if self.speaker_embedding is not None:
            self.speaker_embedding.build((None,))
        self.lstm.build((None, None, self.input_dim))
        if self.attention is not None:
            self.attention.build()
        self.output_projection.build((None, self.units))

    def call(
        self, target_in, initial_state, speaker=None, memory=None, memory_mask=None, training=None
    ):
        """int [batch, time], (h, c) per layer, int [batch] -> logits [batch, time, vocab].

        memory, memory_mask: the encoder's outputs [batch, source_time, units]
        and bool [batch, source_time] (real positions), for attention; ignored
        by a decoder without it. `initial_state` is the encoder's final states.
        """
        inputs = lstm.drop(self._inputs(self.embedding(target_in), speaker), self.dropout, training)
        if self.attention is None:
            outputs, _ = self.lstm(inputs, initial_state=initial_state, training=training)
            outputs = lstm.drop(outputs, self.dropout, training)
        else:
            memory = self.attention.memory(memory, memory_mask)
            outputs, _ = self._attend_sequence(inputs, initial_state, memory, training)
        return self.output_projection(outputs)

    def attention_weights(self, target_in, initial_state, speaker, memory):
        """Teacher-forced attention weights: float32 [batch, time, source_time].

        memory: `attention_memory(...)` of the batch. For pictures of what the
        decoder looked at (decode --attention_plots).
        """
        inputs = self._inputs(self.embedding(target_in), speaker)
        return self._attend_sequence(inputs, initial_state, memory, training=False)[1]

    def _attend_sequence(self, inputs, initial_state, memory, training):
        """The attention decoder over a whole sequence, one step at a time.

        inputs [batch, time, dim] (words and speaker) -> h~ [batch, time, units]
        and the weights [batch, time, source_time]. The first layer's word and
        speaker part of the gates is one matmul for all steps, as in
        `LSTMStack.call`; only the fed h~ and the recurrences are in the loop.
        """
        stack, dtype = self.lstm, inputs.dtype
        dim = inputs.shape[-1]
        kernel = tf.cast(stack.kernels[0], dtype)
        gates = tf.einsum("btd,dk->tbk", inputs, kernel[:dim]) + tf.cast(stack.biases[0], dtype)
        shape = [tf.shape(gates)[0], tf.shape(gates)[1], self.units]
        keeps = [
            lstm.keep_mask(shape, self.dropout, training, dtype) for _ in range(stack.num_layers)
        ]
        keeps = tuple(keeps) if keeps[0] is not None else ()
        output_kernel = tf.cast(self.attention.output_kernel, dtype)
        feed_kernel = kernel[dim:]

        def step(carry, x):
            states, feed, _ = carry
            gates, *keep = x
            h, states = stack.step_from_gates(
                gates + tf.matmul(feed, feed_kernel), states, keep[:-1]
            )
            attentional, weights = self.attention.attend(h, memory, output_kernel)
            attentional = attentional * keep[-1] if keep else attentional
            return states, attentional, weights

        batch, source_time = tf.shape(inputs)[0], tf.shape(memory.values)[1]
        start = (
            list(initial_state),
            tf.zeros([batch, self.units], dtype),
            tf.zeros([batch, source_time], tf.float32),
        )
        _, outputs, weights = tf.scan(step, (gates, *keeps), initializer=start)
        return tf.transpose(outputs, [1, 0, 2]), tf.transpose(weights, [1, 0, 2])

    def attention_memory(self, outputs, mask):
        """The `attention.Memory` of encoder outputs and their bool mask; () without attention."""
        if self.attention is None:
            return ()
        return self.attention.memory(outputs, mask)

    def initial_state(self, encoder_states):
        """The state `step` starts from: the encoder's final states (and h~ = 0)."""
        if self.attention is None:
            return encoder_states
        h = encoder_states[-1][0]
        return (list(encoder_states), tf.zeros_like(h))

    def step(self, ids, state, speaker=None, memory=()):
        """One decoding step: int [n], state, int [n] -> logits [n, vocab], new state.

        memory: `attention_memory(...)` of the n rows' inputs, grouped as
        `attention.Memory` says; () without attention.
        """
        outputs, state = self.step_hidden(ids, state, speaker, memory)
        return self.output_projection(outputs), state

    def step_hidden(self, ids, state, speaker=None, memory=()):
        """`step` before the output projection: [n, units] (h, or h~), new state."""
        inputs = self._inputs(self.embedding(ids), speaker)
        if self.attention is None:
            return self.lstm.step(inputs, state)
        lstm_states, feed = state
        h, lstm_states = self.lstm.step(tf.concat([inputs, feed], axis=-1), lstm_states)
        attentional, _ = self.attention.attend(h, memory)
        return attentional, (lstm_states, attentional)

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
            dropout=self.dropout,
            attention=self.attention_type,
        )
        return config
