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

from mtask_tf.data import vocabulary
from mtask_tf.model import attention as attention_lib
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
        self.attention = decoder.attention
        self.attention_kernel = (
            _copy(decoder.attention.output_kernel, bf16) if decoder.attention is not None else None
        )

    def step(self, ids, state, speaker=None, memory=()):
        """int [n], float32 state, int [n] -> bfloat16 logits [n, vocab], new state.

        The state is the decoder's (`Decoder.initial_state`); with attention,
        the scores and weights over `memory` are float32 and W_c bfloat16.
        """
        x = tf.gather(self.embedding, ids)
        if self.speaker_embedding is not None:
            x = tf.concat([x, tf.gather(self.speaker_embedding, speaker)], axis=-1)
        if self.attention is None:
            h, state = self._lstm_step(x, state)
        else:
            lstm_states, feed = state
            h, lstm_states = self._lstm_step(
                tf.concat([x, tf.cast(feed, x.dtype)], -1), lstm_states
            )
            h, _ = attention_lib.attend(h, memory, self.attention_kernel)
            state = (lstm_states, h)
        x = tf.cast(h, tf.bfloat16)
        return tf.nn.bias_add(tf.matmul(x, self.output_kernel), self.output_bias), state

    def _lstm_step(self, x, states):
        """bfloat16 inputs [n, dim], float32 (h, c) per layer -> float32 h [n, units], states."""
        new_states = []
        for kernel, bias, (h, c) in zip(self.gate_kernels, self.gate_biases, states):
            inputs = tf.concat([x, tf.cast(h, tf.bfloat16)], axis=-1)
            gates = tf.cast(tf.matmul(inputs, kernel), tf.float32) + bias
            h, c = lstm.cell(gates, c)
            new_states.append((h, c))
            x = tf.cast(h, tf.bfloat16)
        return h, new_states


def cpu_has_bfloat16():
    """True where the CPU has bfloat16 matmul instructions (AVX-512 BF16 or AMX), per Linux."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def exact_log_probs(decoder, states, rows, speaker, target_in, target_out, budget, memory=()):
    """float32 log p(target_out | ...) per row, each distinct prefix computed once.

    Equal to teacher-forced scoring (`Generator.score`), but walked as a prefix
    tree: at each position the rows whose input and tokens so far are the same
    share one LSTM step and one softmax normaliser over the whole vocabulary
    (the dominant cost, in chunks of at most `budget` logits). A beam's
    candidates share most of their prefixes, so this does a fraction of the
    work of scoring every row. The target word's own logit is one dot product.

    states: the decoder's initial state, per row; rows: int32 [n], the input
    of each row; target_in, target_out: int32 [n, L], L static; memory: the
    inputs' `attention.Memory` (one per input, not per row), or ().
    """
    real = tf.not_equal(target_out, vocabulary.PAD_ID)
    hidden, prefix = _walk_prefixes(decoder, states, rows, speaker, target_in, real, memory)
    projection = decoder.output_projection
    positions = tf.where(real)  # [m, 2]: (row, t)
    position_prefix = tf.gather_nd(prefix, positions)
    h = tf.gather(hidden, position_prefix)  # [m, units]
    words = tf.gather_nd(target_out, positions)
    word_logits = tf.reduce_sum(h * tf.transpose(tf.gather(projection.kernel, words, axis=1)), 1)
    normalisers = _log_normalisers(projection, hidden, budget)  # one large matmul, chunked
    log_p = (
        word_logits + tf.gather(projection.bias, words) - tf.gather(normalisers, position_prefix)
    )
    rows_of = tf.cast(positions[:, 0], tf.int32)
    return tf.math.unsorted_segment_sum(log_p, rows_of, tf.shape(target_in)[0])


def _walk_prefixes(decoder, states, rows, speaker, target_in, real, memory):
    """The LSTM output of every distinct prefix, and each position's prefix.

    Returns h [prefixes, units] and int32 [n, L] indices into it (positions
    past a row's EOS point at a throw-away prefix). One LSTM step per
    position runs for all distinct prefixes at that position at once.
    """
    _, index = tf.unique(rows)  # the empty prefix: one per input
    prefix_states = _take(states, _representatives(index))
    outputs, indices, offset = [], [], 0
    for t in range(target_in.shape[1]):
        # Rows past their EOS share one throw-away prefix (key -1).
        key = tf.where(
            real[:, t],
            tf.cast(index, tf.int64) * decoder.vocabulary_size + tf.cast(target_in[:, t], tf.int64),
            -1,
        )
        distinct, new_index = tf.unique(key)
        first = _representatives(new_index, tf.size(distinct))
        h, prefix_states = decoder.step_hidden(
            tf.gather(target_in[:, t], first),
            _take(prefix_states, tf.gather(index, first)),
            tf.gather(speaker, first) if decoder.num_speakers else None,
            _take(memory, tf.gather(rows, first)),  # one memory row per prefix
        )
        outputs.append(h)
        indices.append(new_index + offset)
        offset += tf.size(distinct)
        index = new_index
    return tf.concat(outputs, axis=0), tf.stack(indices, axis=1)


def _representatives(index, count=None):
    """The first row of each group of `index` (int [n] group ids in [0, count))."""
    if count is None:
        count = tf.reduce_max(tf.concat([index, [-1]], axis=0)) + 1
    return tf.math.unsorted_segment_min(tf.range(tf.size(index)), index, count)


def _take(nested, rows):
    return tf.nest.map_structure(lambda x: tf.gather(x, rows), nested)


def _log_normalisers(projection, h, budget):
    """log sum_w exp(logit_w) of each row of h [k, units], in chunks of <= budget logits."""
    rows = tf.shape(h)[0]
    chunk = tf.maximum(1, budget // projection.kernel.shape[1])
    num_chunks = (rows + chunk - 1) // chunk
    parts = tf.TensorArray(tf.float32, num_chunks, infer_shape=False, element_shape=[None])

    def body(i, parts):
        logits = projection(h[i * chunk : tf.minimum((i + 1) * chunk, rows)])
        return i + 1, parts.write(i, tf.reduce_logsumexp(logits, axis=1))

    return tf.while_loop(lambda i, _: i < num_chunks, body, (0, parts))[1].concat()
