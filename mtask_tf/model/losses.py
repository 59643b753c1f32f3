"""Per-token negative log-likelihood, the quantity behind every loss and perplexity here."""

import tensorflow as tf

from mtask_tf.data import vocabulary


def token_nll(logits, target_out):
    """-log p(y_t | ...) per target token, zero at padding.

    logits [batch, time, vocab], target_out int [batch, time] ->
    (nll float32 [batch, time], weights float32 [batch, time]: 1 for real tokens,
    EOS included).

    Plain TensorFlow ops: this is the version that goes into SavedModels, which
    the stock TensorFlow Serving binary must run without XLA (its XLA:CPU JIT is
    off by default). Training and evaluation use `token_nll_compiled`.
    """
    weights = tf.cast(tf.not_equal(target_out, vocabulary.PAD_ID), tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=target_out, logits=tf.cast(logits, tf.float32)
    )
    return nll * weights, weights


# XLA fuses the softmax, the cross-entropy and (under mixed precision) the cast of
# the [batch, time, vocab] logits into one pass over them; on CPU this alone is
# 8-17 % of a paper-sized training step (benchmarks/README.md). Compiling the
# whole step with XLA is slower on CPU, so only this part is. Compiling costs
# about a second for each new shape, which a small vocabulary never earns back
# (a smoke-sized training run: 28 s with it, 24 s without, on AMD EPYC Zen 3).
_XLA_MIN_VOCABULARY = 1000
_token_nll_xla = tf.function(token_nll, jit_compile=True)


def token_nll_compiled(logits, target_out):
    """`token_nll`, fused by XLA when the vocabulary is large enough to gain from it.

    For training and evaluation; never in a SavedModel.
    """
    if logits.shape[-1] is not None and logits.shape[-1] < _XLA_MIN_VOCABULARY:
        return token_nll(logits, target_out)
    return _token_nll_xla(logits, target_out)
