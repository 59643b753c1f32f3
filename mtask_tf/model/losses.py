"""Per-token negative log-likelihood, the quantity behind every loss and perplexity here."""

import tensorflow as tf

from mtask_tf.data import vocabulary


def token_nll(logits, target_out):
    """-log p(y_t | ...) per target token, zero at padding.

    logits [batch, time, vocab], target_out int [batch, time] ->
    (nll float32 [batch, time], weights float32 [batch, time]: 1 for real tokens,
    EOS included).
    """
    weights = tf.cast(tf.not_equal(target_out, vocabulary.PAD_ID), tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=target_out, logits=tf.cast(logits, tf.float32))
    return nll * weights, weights
