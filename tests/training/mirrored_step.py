"""Two training steps under MirroredStrategy on two logical CPUs against one device.

    python -m tests.training.mirrored_step

Prints one JSON line: the largest weight difference between the mirrored model
and the single-device model after the same two steps on the same global
batches (each replica got half of each), and the same for a single-device model
trained on the first halves only (what a replica alone would have done), and
how far the weights moved. Logical devices can only be set up before
TensorFlow initialises, hence a program of its own (a child of the test
zygote, tests/zygote.py, has run no TensorFlow op yet).
"""

import json

import keras
import numpy as np
import tensorflow as tf

from mtask_tf.model import builders
from mtask_tf.training import multitask

CONFIG = builders.ModelConfig(
    vocabulary_size=12, embedding_dim=4, units=8, num_layers=1, num_speakers=3, speaker_dim=4
)


def _batch(seed, rows=8):
    """A global batch without padding, so both halves hold the same number of tokens
    (the mean over tokens of each half, averaged, is then the mean over all)."""
    rng = np.random.RandomState(seed)
    target_out = rng.randint(4, 12, (rows, 3)).astype("int32")
    target_out[:, -1] = 3
    return {
        "source": rng.randint(4, 12, (rows, 5)).astype("int32"),
        "target_in": np.concatenate([np.full((rows, 1), 2, "int32"), target_out[:, :-1]], 1),
        "target_out": target_out,
        "speaker": rng.randint(0, 3, (rows,)).astype("int32"),
    }


def _dataset(rows):
    """Two global batches of 8 rows (a batched dataset, so that a strategy splits each
    between its replicas), or of each batch's first `rows` rows."""
    rows_of = lambda *seeds: {k: np.concatenate([_batch(s)[k] for s in seeds]) for k in _batch(0)}
    data = {"seq2seq": rows_of(1, 3), "autoencoder": rows_of(2, 4)}
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(8)
    return dataset.map(lambda b: tf.nest.map_structure(lambda t: t[:rows], b))


def _trained(strategy, initial, rows=8):
    with strategy.scope():
        model = multitask.MultiTaskModel(CONFIG, with_autoencoder=True, learning_rate=0.01)
        model.compile()
    model.set_weights(initial)
    model.fit(_dataset(rows), epochs=1, steps_per_epoch=2, verbose=0)
    return model.get_weights()


def _largest_difference(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def main():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    initial = multitask.MultiTaskModel(CONFIG, with_autoencoder=True).get_weights()
    single = _trained(tf.distribute.get_strategy(), initial)
    first = next(iter(mirrored.experimental_distribute_dataset(_dataset(8))))
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        "rows_per_replica": [int(t.shape[0]) for t in first["seq2seq"]["source"].values],
        "mirrored_vs_single": _largest_difference(_trained(mirrored, initial), single),
        "first_halves_vs_single": _largest_difference(
            _trained(tf.distribute.get_strategy(), initial, rows=4), single
        ),
        "moved": _largest_difference(single, initial),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
