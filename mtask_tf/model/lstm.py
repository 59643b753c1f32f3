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
        dropout: in training, the share of each layer's outputs zeroed before
            the next layer reads them (the last layer's outputs are the
            caller's to drop).

    Example:
    >>> lstm = LSTMStack(units=8, num_layers=2)
    >>> outputs, states = lstm(tf.zeros([3, 5, 4]))  # [3, 5, 8], 2 x (h, c)
    """

    def __init__(self, units, num_layers, init_scale=0.1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.init_scale = init_scale
        self.dropout = dropout

    def build(self, input_shape):
        initializer = keras.initializers.RandomUniform(-self.init_scale, self.init_scale)
        self.kernels, self.recurrent_kernels, self.biases = [], [], []
        input_dim = input_shape[-1]
        for layer in range(self.num_layers):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{layer}",
                    shape=(input_dim, 4 * self.units),
                    initializer=initializer,
                )
            )
            self.recurrent_kernels.append(
                self.add_weight(
                    name=f"recurrent_kernel_{layer}",
                    shape=(self.units, 4 * self.units),
                    initializer=initializer,
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{layer}", shape=(4 * self.units,), initializer=initializer
                )
            )
            input_dim = self.units

    def zero_state(self, batch_size, dtype=tf.float32):
        zeros = tf.zeros([batch_size, self.units], dtype)
        return [(zeros, zeros) for _ in range(self.num_layers)]

    def call(self, inputs, initial_state=None, step_mask=None, training=None):
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
            if layer:
                time_major = drop(time_major, self.dropout, training)
            projected = (
                tf.einsum("tbd,dk->tbk", time_major, self.kernels[layer]) + self.biases[layer]
            )
            time_major, state = self._recur(layer, projected, mask, states[layer])
            final_states.append(state)
        return tf.transpose(time_major, [1, 0, 2]), final_states

    def _recur(self, layer, projected, mask, state):
        """The recurrent loop over time, with its hand-written gradient (`_recurrence`)."""
        recurrent_kernel = tf.cast(self.recurrent_kernels[layer], projected.dtype)
        outputs, h, c = _recurrence(projected, state[0], state[1], recurrent_kernel, mask)
        return outputs, (h, c)

    def step(self, inputs, states):
        """One time step: [batch, dim], (h, c) per layer -> [batch, units], new states."""
        # `step` runs outside Keras' __call__, so no autocasting: under a mixed
        # precision policy the weights are cast to the inputs' compute dtype here.
        gates = tf.matmul(inputs, tf.cast(self.kernels[0], inputs.dtype)) + tf.cast(
            self.biases[0], inputs.dtype
        )
        return self.step_from_gates(gates, states)

    def step_from_gates(self, gates, states, keep=()):
        """`step` from the first layer's input part of the gates, W·x + b [batch, 4 units].

        keep: a dropout mask ([batch, units], 0 or 1 / (1 - rate)) per layer
        after the first, applied to the input it reads; () for none.
        """
        cast = lambda w: tf.cast(w, gates.dtype)
        new_states, x = [], None
        for layer, (h, c) in enumerate(states):
            if layer:
                x = x * keep[layer - 1] if keep else x
                gates = tf.matmul(x, cast(self.kernels[layer])) + cast(self.biases[layer])
            h, c = cell(gates + tf.matmul(h, cast(self.recurrent_kernels[layer])), c)
            new_states.append((h, c))
            x = h
        return x, new_states

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            num_layers=self.num_layers,
            init_scale=self.init_scale,
            dropout=self.dropout,
        )
        return config


def drop(x, rate, training):
    """Dropout in training (`training` True and rate > 0); x unchanged otherwise.

    A stateful TensorFlow op rather than a Keras seed generator: no variable,
    so checkpoints are the same with and without dropout, and replicas of a
    distributed run draw their own masks.
    """
    if not training or not rate:
        return x
    return tf.nn.dropout(x, rate=rate)


def keep_mask(shape, rate, training, dtype):
    """A dropout mask of `shape`: 0 or 1 / (1 - rate) in training, None otherwise."""
    if not training or not rate:
        return None
    return tf.nn.dropout(tf.ones(shape, dtype), rate=rate)


# The recurrent loop with a hand-written backward pass. Differentiating tf.scan
# automatically multiplies h_{t-1}^T by the gate gradients inside the reverse
# loop, one small [units, batch] x [batch, 4 units] matmul per step, and adds
# each into the kernel's gradient; here the reverse loop only carries the
# gradients through time, and the recurrent kernel's gradient is one
# [units, time * batch] x [time * batch, 4 units] matmul afterwards.
# tests/model/test_models.py checks it against automatic differentiation.


def _recurrence(projected, h0, c0, recurrent_kernel, keep=None):
    """LSTM over time-major inputs already multiplied by W (plus bias), [T, B, 4U].

    Returns outputs [T, B, U] and the final h, c [B, U]. Where `keep` ([T, B]
    bool) is False the state is carried through unchanged.
    """
    if keep is None:  # no per-step blending with the previous state
        return _loop(projected, h0, c0, recurrent_kernel)
    return _loop(projected, h0, c0, recurrent_kernel, tf.cast(keep, projected.dtype)[:, :, None])


def _step(carry, x, recurrent_kernel):
    """One step of the forward loop: new h, c, and the gate activations the backward pass needs."""
    activations = _activations(x + tf.matmul(carry[0], recurrent_kernel))
    h, c = _update(activations, carry[1])
    return h, c, tf.concat(activations, axis=-1)


def _gate_gradients(dh, dc_next, act, c, c_prev):
    i, f, g, o = tf.split(act, 4, axis=-1)
    tanh_c = tf.tanh(c)
    dc = dh * o * (1.0 - tanh_c * tanh_c) + dc_next
    dgates = tf.concat(
        [
            dc * g * i * (1.0 - i),
            dc * c_prev * f * (1.0 - f),
            dc * i * (1.0 - g * g),
            dh * tanh_c * o * (1.0 - o),
        ],
        axis=-1,
    )
    return dgates, dc, f


def _weight_gradient(h0, outputs, dgates):
    h_prev = tf.concat([h0[None], outputs[:-1]], axis=0)
    units = tf.shape(h0)[-1]
    return tf.matmul(
        tf.reshape(h_prev, [-1, units]), tf.reshape(dgates, [-1, 4 * units]), transpose_a=True
    )


def _zeros_if_none(grad, like):
    return tf.zeros_like(like) if grad is None else tf.convert_to_tensor(grad)


@tf.custom_gradient
def _loop(projected, h0, c0, recurrent_kernel, *keep):
    """`_recurrence` with its gradient; `keep` is () or (float [T, B, 1],)."""
    acts0 = tf.zeros_like(projected[0])

    def forward(carry, inputs):
        x, *k = inputs
        h, c, act = _step(carry, x, recurrent_kernel)
        if k:  # where k is 0 the previous state carries through
            h, c = carry[0] + k[0] * (h - carry[0]), carry[1] + k[0] * (c - carry[1])
        return h, c, act

    outputs, cells, acts = tf.scan(forward, (projected, *keep), initializer=(h0, c0, acts0))
    c_prev = tf.concat([c0[None], cells[:-1]], axis=0)

    def grad(d_outputs, d_h, d_c):
        def backward(carry, inputs):
            d_out, act, c, c_old, *k = inputs
            dh = d_out + carry[0]
            if not k:
                dgates, dc, f = _gate_gradients(dh, carry[1], act, c, c_old)
                return tf.matmul(dgates, recurrent_kernel, transpose_b=True), dc * f, dgates
            k = k[0]
            dgates, dc, f = _gate_gradients(k * dh, carry[1], act, c, c_old)
            dgates = k * dgates
            dh_prev = tf.matmul(dgates, recurrent_kernel, transpose_b=True) + (1.0 - k) * dh
            return dh_prev, dc * (k * f + (1.0 - k)), dgates

        dh_0, dc_0, dgates = tf.scan(
            backward,
            (_zeros_if_none(d_outputs, outputs), acts, cells, c_prev, *keep),
            initializer=(_zeros_if_none(d_h, h0), _zeros_if_none(d_c, c0), acts0),
            reverse=True,
        )
        return (
            dgates,
            dh_0[0],
            dc_0[0],
            _weight_gradient(h0, outputs, dgates),
            *[None for _ in keep],
        )

    return (outputs, outputs[-1], cells[-1]), grad


def cell(gates, c):
    """One LSTM update from the gate pre-activations [n, 4 units] and the cell [n, units]."""
    return _update(_activations(gates), c)


def _activations(gates):
    i, f, g, o = tf.split(gates, 4, axis=-1)
    return tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)


def _update(activations, c):
    i, f, g, o = activations
    c = f * c + i * g
    return o * tf.tanh(c), c
