"""A bfloat16 copy of a trained decoder's step, for a faster beam search.

`--decode_dtype=bf16` runs the search's matmuls (LSTM gates and the output
projection, nine tenths of a step's work at the paper's sizes) in bfloat16,
which CPUs with AVX-512 BF16 or AMX run at up to several times the float32
speed. The cell state, the gate non-linearities and the search's scores stay
float32; the N-best list the search returns is then rescored in float32 by
`Generator` (one teacher-forced pass), so every returned score is the float32
log-probability. Only which hypotheses the search keeps can differ from a
float32 search.

Plain TensorFlow ops only, so it runs in SavedModels under the stock
TensorFlow Serving binary.
"""

import tensorflow as tf

from mtask_tf.model import lstm

DTYPES = {"float32": tf.float32, "bf16": tf.bfloat16}


def _copy(weight, dtype):
    return tf.Variable(tf.cast(tf.convert_to_tensor(weight), dtype), trainable=False)


class Bfloat16Decoder(tf.Module):
    """`Decoder.step` with bfloat16 copies of the decoder's weights.

    The copies are taken when this is built: build it after the weights are
    loaded (`Responder` does). Each layer's input and recurrent kernels are
    stacked into one matrix, so a layer's gates are one matmul.

    Args:
        decoder: a trained `model.decoder.Decoder`.
    """

    def __init__(self, decoder, name=None):
        super().__init__(name=name)
        bf16 = tf.bfloat16
        self.num_speakers = decoder.num_speakers
        self.embedding = _copy(decoder.embedding.embeddings, bf16)
        self.speaker_embedding = (
            _copy(decoder.speaker_embedding.embeddings, bf16) if decoder.num_speakers else None
        )
        stack = decoder.lstm
        self.gate_kernels = [
            _copy(tf.concat([k, r], axis=0), bf16)
            for k, r in zip(stack.kernels, stack.recurrent_kernels)
        ]
        self.gate_biases = [_copy(b, tf.float32) for b in stack.biases]
        self.output_kernel = _copy(decoder.output_projection.kernel, bf16)
        self.output_bias = _copy(decoder.output_projection.bias, bf16)

    def step(self, ids, states, speaker=None):
        """int [n], float32 (h, c) per layer, int [n] -> bfloat16 logits [n, vocab], states."""
        x = tf.gather(self.embedding, ids)
        if self.speaker_embedding is not None:
            x = tf.concat([x, tf.gather(self.speaker_embedding, speaker)], axis=-1)
        new_states = []
        for kernel, bias, (h, c) in zip(self.gate_kernels, self.gate_biases, states):
            inputs = tf.concat([x, tf.cast(h, tf.bfloat16)], axis=-1)
            gates = tf.cast(tf.matmul(inputs, kernel), tf.float32) + bias
            h, c = lstm.cell(gates, c)
            new_states.append((h, c))
            x = tf.cast(h, tf.bfloat16)
        return tf.nn.bias_add(tf.matmul(x, self.output_kernel), self.output_bias), new_states


def cpu_has_bfloat16():
    """True where the CPU has bfloat16 matmul instructions (AVX-512 BF16 or AMX), per Linux."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
