"""Perplexity: exp of the mean negative log-likelihood per target token, EOS included."""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from mtask_tf.model import builders
from mtask_tf.model import losses


@dataclasses.dataclass
class Perplexity:
    """Corpus perplexity and its parts, overall and per speaker id."""

    perplexity: float
    nll: float
    tokens: int
    by_speaker: dict  # speaker id -> perplexity, for the speakers present

    def to_dict(self, speakers=None):
        by_speaker = {
            (speakers[i] if speakers else str(i)): p for i, p in sorted(self.by_speaker.items())
        }
        return {
            "perplexity": self.perplexity,
            "nll": self.nll,
            "tokens": self.tokens,
            "perplexity_by_speaker": by_speaker,
        }


_SIGNATURE = {
    "source": tf.TensorSpec([None, None], tf.int32),
    "target_in": tf.TensorSpec([None, None], tf.int32),
    "target_out": tf.TensorSpec([None, None], tf.int32),
    "speaker": tf.TensorSpec([None], tf.int32),
}


def _batch_sums(model, num_speakers):
    """Per-speaker sums of NLL and tokens of a batch, traced once per model."""
    key = ("_mtask_perplexity_sums", num_speakers)
    cached = getattr(model, "_mtask_perplexity_cache", {})
    if key in cached:
        return cached[key]

    @tf.function(input_signature=[_SIGNATURE], autograph=False)
    def sums(batch):
        logits = model(builders.model_feed(batch), training=False)
        nll, weights = losses.token_nll_compiled(logits, batch["target_out"])
        speaker = batch["speaker"]
        return (
            tf.math.unsorted_segment_sum(tf.reduce_sum(nll, 1), speaker, num_speakers),
            tf.math.unsorted_segment_sum(tf.reduce_sum(weights, 1), speaker, num_speakers),
        )

    cached[key] = sums
    model._mtask_perplexity_cache = cached
    return sums


def perplexity(model, dataset, num_speakers):
    """Perplexity of a Seq2Seq (or Autoencoder) functional model over a dataset.

    Args:
        model: maps {"source", "target_in", "speaker"} to logits.
        dataset: batches as made by `mtask_tf.data.pipeline.evaluation_dataset`.
        num_speakers: size of the speaker id space (ids in the data must be below it).
    """
    num_speakers = max(num_speakers, 1)
    sums = _batch_sums(model, num_speakers)
    nll, tokens = np.zeros(num_speakers), np.zeros(num_speakers)
    for batch in dataset:
        batch_nll, batch_tokens = sums(batch)
        nll += batch_nll.numpy()
        tokens += batch_tokens.numpy()
    total_nll, total_tokens = float(nll.sum()), float(tokens.sum())
    if total_tokens == 0:
        raise ValueError("perplexity of an empty dataset: it has no target tokens")
    by_speaker = {i: math.exp(n / t) for i, (n, t) in enumerate(zip(nll, tokens)) if t > 0}
    return Perplexity(math.exp(total_nll / total_tokens), total_nll, int(total_tokens), by_speaker)
