"""tf.data pipelines: training batches drawn from the whole data set."""

import numpy as np
import tensorflow as tf

from mtask_tf.data import pipeline


def _examples(count):
    """`count` examples in file order; the speaker column holds each one's index."""
    lengths = 1 + np.arange(count) % 7
    ragged = lambda values, lengths: tf.RaggedTensor.from_row_lengths(
        tf.constant(values, tf.int32), lengths
    )
    return {
        "source": ragged(np.full(lengths.sum(), 5), lengths),
        "target_in": ragged(np.full(lengths.sum() + count, 2), lengths + 1),
        "target_out": ragged(np.full(lengths.sum() + count, 3), lengths + 1),
        "speaker": tf.range(count, dtype=tf.int32),
    }


def test_training_batches_are_drawn_from_the_whole_data_set():
    # More examples than the 100k window a streaming shuffle buffer would hold.
    count = 250_000
    batches = iter(pipeline.training_dataset(_examples(count), 64, seed=3))
    first = np.concatenate([next(batches)["speaker"].numpy() for _ in range(4)])
    # Uniform draws: a quarter beyond index 187,500 is expected; a window of the
    # first 100k (or any sliding window) would give none.
    assert (first > 187_500).sum() >= 16, np.sort(first)
    assert (first < 62_500).sum() >= 16, np.sort(first)


def test_every_example_comes_once_per_pass_and_batches_keep_similar_lengths():
    count = 640
    examples = _examples(count)
    batches = iter(pipeline.training_dataset(examples, 16, seed=1, bucket_width=4))
    seen = []
    while len(seen) < 3 * count:  # three passes, bucketing reorders across passes only a bit
        batch = next(batches)
        width = batch["source"].shape[1]
        lengths = np.count_nonzero(batch["source"].numpy(), axis=1)
        assert lengths.max() == width and width - lengths.min() < 4
        seen.extend(batch["speaker"].numpy().tolist())
    counts = np.bincount(seen[: 2 * count], minlength=count)
    assert counts.min() >= 1 and counts.max() <= 3
