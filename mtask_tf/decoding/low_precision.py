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


def prefix_ids(rows, target_in):
    """Ids of distinct prefixes: positions (r, t) share one iff input and target_in[r, :t+1] match.

    rows: int32 [n], the input each candidate answers; target_in: int32 [n, L].
    Returns int32 [n, L] ids, unique across all positions: a beam's candidates
    share most of their prefixes, so there are far fewer ids than positions.
    """
    n = tf.shape(target_in)[0]
    vocabulary_size = tf.cast(tf.reduce_max(target_in) + 1, tf.int64)

    def extend(previous, tokens):
        _, index = tf.unique(previous * vocabulary_size + tf.cast(tokens, tf.int64))
        return tf.cast(index, tf.int64)

    start = tf.cast(tf.unique(rows)[1], tf.int64)
    index = tf.scan(extend, tf.transpose(target_in), initializer=start)  # [L, n], each < n
    offsets = tf.range(tf.shape(target_in)[1], dtype=tf.int64)[:, None] * tf.cast(n, tf.int64)
    return tf.transpose(index + offsets)


def exact_log_probs(decoder, states, rows, speaker, target_in, target_out, budget):
    """float32 log p(target_out | ...) per row, the softmax normaliser computed once per prefix.

    Equal to teacher-forced scoring (`Generator.score`): the decoder's LSTM runs
    over every row, but the output projection over the whole vocabulary, the
    dominant cost, runs only for distinct prefixes (`prefix_ids`), in chunks of
    at most `budget` logits. The target word's own logit is one dot product.

    states: the decoder's initial (h, c) per layer, per row; rows: int32 [n],
    the input of each row (rows of one input with the same prefix share it).
    """
    hidden = decoder.hidden(target_in, states, speaker if decoder.num_speakers else None)
    real = tf.where(tf.not_equal(target_out, vocabulary.PAD_ID))  # [m, 2]: (row, position)
    h = tf.gather_nd(hidden, real)  # [m, units]
    distinct, position_prefix = tf.unique(tf.gather_nd(prefix_ids(rows, target_in), real))
    first = tf.math.unsorted_segment_min(
        tf.range(tf.shape(real)[0]), position_prefix, tf.size(distinct)
    )
    normalisers = _log_normalisers(decoder.output_projection, tf.gather(h, first), budget)
    projection = decoder.output_projection
    words = tf.gather_nd(target_out, real)
    word_logits = tf.reduce_sum(h * tf.transpose(tf.gather(projection.kernel, words, axis=1)), 1)
    log_p = (
        word_logits + tf.gather(projection.bias, words) - tf.gather(normalisers, position_prefix)
    )
    return tf.math.unsorted_segment_sum(
        log_p, tf.cast(real[:, 0], tf.int32), tf.shape(target_out)[0]
    )


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
