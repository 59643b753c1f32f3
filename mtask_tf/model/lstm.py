"""A stack of LSTM layers whose input projection runs once for all time steps."""

import keras
import tensorflow as tf


class LSTMStack(keras.layers.Layer):
    """Stacked LSTM layers, each computing `[i f g o] = W·x_t + U·h_{t-1} + b`.

    `W·x_t` for every time step is one matrix multiply before the recurrent loop,
    which leaves only `U·h_{t-1}` inside it; this is what makes the layer faster
    than a step-by-step cell on CPU. The same weights serve whole sequences
    (`call`) and single decoding steps (`step`), so beam search runs the trained
    network itself.

    Args:
        units: cells per layer.
        num_layers: number of stacked layers.
        init_scale: weights start uniform in [-init_scale, init_scale] (paper: 0.1).

    Example:
    >>> lstm = LSTMStack(units=8, num_layers=2)
    >>> outputs, states = lstm(tf.zeros([3, 5, 4]))  # [3, 5, 8], 2 x (h, c)
    """

    def __init__(self, units, num_layers, init_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.init_scale = init_scale

    def build(self, input_shape):
        initializer = keras.initializers.RandomUniform(-self.init_scale, self.init_scale)
        self.kernels, self.recurrent_kernels, self.biases = [], [], []
        input_dim = input_shape[-1]
        for layer in range(self.num_layers):
            self.kernels.append(self.add_weight(
                name=f"kernel_{layer}", shape=(input_dim, 4 * self.units),
                initializer=initializer))
            self.recurrent_kernels.append(self.add_weight(
                name=f"recurrent_kernel_{layer}", shape=(self.units, 4 * self.units),
                initializer=initializer))
            self.biases.append(self.add_weight(
                name=f"bias_{layer}", shape=(4 * self.units,), initializer=initializer))
            input_dim = self.units

    def zero_state(self, batch_size, dtype=tf.float32):
        zeros = tf.zeros([batch_size, self.units], dtype)
        return [(zeros, zeros) for _ in range(self.num_layers)]

    def call(self, inputs, initial_state=None, step_mask=None):
        """[batch, time, dim] -> outputs [batch, time, units], final (h, c) per layer.

        Where `step_mask` ([batch, time]) is False the state is carried through
        unchanged, so the final state is the one after each row's last real token.
        """
        batch = tf.shape(inputs)[0]
        states = initial_state or self.zero_state(batch, self.compute_dtype)
        time_major = tf.transpose(inputs, [1, 0, 2])
        mask = None if step_mask is None else tf.transpose(step_mask)
        final_states = []
        for layer in range(self.num_layers):
            projected = tf.einsum("tbd,dk->tbk", time_major, self.kernels[layer]) + self.biases[layer]
            time_major, state = self._recur(layer, projected, mask, states[layer])
            final_states.append(state)
        return tf.transpose(time_major, [1, 0, 2]), final_states

    def _recur(self, layer, projected, mask, state):
        """The recurrent loop over time; without a mask, no per-step selects."""
        recurrent_kernel = self.recurrent_kernels[layer]

        def step(carry, x):
            h_new, c_new = _cell(x + tf.matmul(carry[1], recurrent_kernel), carry[2])
            return h_new, h_new, c_new

        def masked_step(carry, inputs):
            h, c = carry[1], carry[2]
            x, keep = inputs
            h_new, c_new = _cell(x + tf.matmul(h, recurrent_kernel), c)
            keep = keep[:, None]
            h_new = tf.where(keep, h_new, h)
            return h_new, h_new, tf.where(keep, c_new, c)

        initializer = (state[0], state[0], state[1])
        if mask is None:
            outputs, h, c = tf.scan(step, projected, initializer=initializer)
        else:
            outputs, h, c = tf.scan(masked_step, (projected, mask), initializer=initializer)
        return outputs, (h[-1], c[-1])

    def step(self, inputs, states):
        """One time step: [batch, dim], (h, c) per layer -> [batch, units], new states."""
        x = inputs
        # `step` runs outside Keras' __call__, so no autocasting: under a mixed
        # precision policy the weights are cast to the inputs' compute dtype here.
        cast = lambda w: tf.cast(w, x.dtype)
        new_states = []
        for layer, (h, c) in enumerate(states):
            gates = tf.matmul(x, cast(self.kernels[layer])) + cast(self.biases[layer])
            h, c = _cell(gates + tf.matmul(h, cast(self.recurrent_kernels[layer])), c)
            new_states.append((h, c))
            x = h
        return x, new_states

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, num_layers=self.num_layers, init_scale=self.init_scale)
        return config


def _cell(gates, c):
    i, f, g, o = tf.split(gates, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c
