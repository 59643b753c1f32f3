"""Luong attention over the encoder's outputs, for the shared decoder (`--attention=luong`)."""

from typing import NamedTuple

import keras
import tensorflow as tf

# Scores of padded source positions: finite, so a source of padding only gives
# uniform weights instead of NaNs, and far below any real score.
_MASKED_SCORE = -1e9


class Memory(NamedTuple):
    """What the decoder attends over, computed once per input.

    Attributes:
        values: [inputs, source_time, units], the encoder's outputs.
        keys: [inputs, source_time, units], the values times W_a (Luong's
            "general" score h_t · W_a h_s, with W_a applied once, not per step).
        mask: bool [inputs, source_time], True at real (non-padding) positions.

    A decoding step may run several hypotheses per input: the rows of the
    decoder's batch are then grouped by input, `rows / inputs` consecutive rows
    per input (the batch-major beam layout), and all rows of a group attend
    over their input's memory without copying it.
    """

    values: tf.Tensor
    keys: tf.Tensor
    mask: tf.Tensor


class LuongAttention(keras.layers.Layer):
    """Luong et al. (2015) global attention with the "general" score.

    At decoder step t, with the top LSTM layer's output h_t:
    a_t = softmax_s(h_t · W_a h_s) over the real source positions,
    c_t = sum_s a_ts h_s, and the attentional vector
    h~_t = tanh(W_c [c_t; h_t]), which the decoder projects onto the
    vocabulary and feeds into its next step's input ("input feeding").

    Args:
        units: size of the encoder outputs, the decoder's h_t and h~_t.
        init_scale: weights start uniform in [-init_scale, init_scale].

    Example:
    >>> attention = LuongAttention(units=8)
    >>> attention.build()
    >>> memory = attention.memory(tf.zeros([2, 5, 8]), tf.ones([2, 5], tf.bool))
    >>> attentional, weights = attention.attend(tf.zeros([6, 8]), memory)  # 3 rows per input
    """

    def __init__(self, units, init_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.init_scale = init_scale

    def build(self, input_shape=None):
        initializer = keras.initializers.RandomUniform(-self.init_scale, self.init_scale)
        self.score_kernel = self.add_weight(
            name="score_kernel", shape=(self.units, self.units), initializer=initializer
        )
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(2 * self.units, self.units), initializer=initializer
        )

    def memory(self, values, mask):
        """Encoder outputs [inputs, time, units] and bool mask [inputs, time] -> a `Memory`."""
        keys = tf.einsum("bsu,vu->bsv", values, tf.cast(self.score_kernel, values.dtype))
        return Memory(values, keys, tf.cast(mask, tf.bool))

    def attend(self, h, memory, output_kernel=None):
        """h [rows, units] -> the attentional vectors [rows, units] and weights [rows, time].

        `output_kernel` replaces W_c (a low-precision copy); its dtype is the
        matmul's, and the result comes back in h's dtype.
        """
        if output_kernel is None:
            output_kernel = tf.cast(self.output_kernel, h.dtype)
        return attend(h, memory, output_kernel)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, init_scale=self.init_scale)
        return config


def attend(h, memory, output_kernel):
    """`LuongAttention.attend` with W_c given: [rows, units] -> [rows, units], [rows, time]."""
    inputs = tf.shape(memory.values)[0]
    rows, units = tf.shape(h)[0], tf.shape(h)[1]
    group = rows // tf.maximum(inputs, 1)  # no inputs: no rows either
    query = tf.reshape(h, [inputs, group, units])
    keys = tf.cast(memory.keys, h.dtype)
    # Softmax in float32 whatever the compute dtype: bfloat16 sums of many
    # small weights lose the small ones.
    scores = tf.cast(tf.einsum("igu,isu->igs", query, keys), tf.float32)
    scores = tf.where(memory.mask[:, None, :], scores, _MASKED_SCORE)
    weights = tf.nn.softmax(scores, axis=-1)
    context = tf.einsum("igs,isu->igu", tf.cast(weights, h.dtype), tf.cast(memory.values, h.dtype))
    joined = tf.concat([context, query], axis=-1)
    projected = tf.einsum("igk,ku->igu", tf.cast(joined, output_kernel.dtype), output_kernel)
    attentional = tf.tanh(tf.cast(projected, h.dtype))
    return tf.reshape(attentional, [rows, units]), tf.reshape(weights, [rows, -1])
