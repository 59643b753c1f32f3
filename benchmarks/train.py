"""Training throughput of the real `MultiTaskModel.train_step`, run by `fit` as training runs it."""

import dataclasses
import time

import keras
import tensorflow as tf

from benchmarks import stats
from mtask_tf.model import builders
from mtask_tf.training import multitask

NUM_SPEAKERS = 100  # persona rows; the embedding's size does not change the speed


@dataclasses.dataclass(frozen=True)
class Shapes:
    """Model and batch sizes (paper: 2 x 500 LSTMs, 50k words, batch 128, 20 + 20 tokens)."""

    vocabulary_size: int = 50_000
    embedding_dim: int = 500
    units: int = 500
    num_layers: int = 2
    speaker_dim: int = 500
    batch_size: int = 128
    source_length: int = 20
    target_length: int = 20
    attention: str = "none"  # "luong": configs/attention.flags' model (with its dropout)
    dropout: float = 0.0

    def config(self, persona):
        return builders.ModelConfig(
            self.vocabulary_size,
            self.embedding_dim,
            self.units,
            self.num_layers,
            NUM_SPEAKERS if persona else 0,
            self.speaker_dim,
            dropout=self.dropout,
            attention=self.attention,
        )

    def with_attention(self):
        """These sizes with configs/attention.flags' options: Luong attention, dropout 0.2."""
        return dataclasses.replace(self, attention="luong", dropout=0.2)


PAPER = Shapes()
QUICK = Shapes(
    vocabulary_size=8000,
    embedding_dim=128,
    units=256,
    speaker_dim=64,
    batch_size=32,
    source_length=10,
    target_length=10,
)


def flops_per_target_token(shapes, persona):
    """Analytic training FLOPs per target token: 2 x multiply-adds x 3 (forward + backward).

    Multiply-adds per example: encoder, per source token and layer, (input + units) x
    4 units; decoder the same per target token, its first layer's input being the word
    embedding plus the speaker embedding of a persona model; the output projection
    units x vocabulary per target token. Element-wise work (gates, softmax) and Adam
    are left out. With attention: the fed attentional vector is part of the
    decoder's first input (units more), and per target token the scores and the
    context (2 x source length x units) and W_c (2 units x units); per source
    token the keys (units x units).
    """
    u, e = shapes.units, shapes.embedding_dim
    k = shapes.speaker_dim if persona else 0
    feed = u if shapes.attention == "luong" else 0
    stack = lambda first_input: sum(
        (d + u) * 4 * u for d in [first_input] + [u] * (shapes.num_layers - 1)
    )
    encoder = stack(e) * shapes.source_length / shapes.target_length
    decoder = stack(e + k + feed) + u * shapes.vocabulary_size
    if feed:
        decoder += 2 * shapes.source_length * u + 2 * u * u
        encoder += u * u * shapes.source_length / shapes.target_length
    return 2 * 3 * (encoder + decoder)


def _batch(shapes, seed):
    rng = tf.random.Generator.from_seed(seed)
    ids = lambda length: rng.uniform(
        [shapes.batch_size, length], 4, shapes.vocabulary_size, tf.int32
    )
    # Every token is real (no padding), so every target position counts.
    return {
        "source": ids(shapes.source_length),
        "target_in": ids(shapes.target_length),
        "target_out": ids(shapes.target_length),
        "speaker": rng.uniform([shapes.batch_size], 0, NUM_SPEAKERS, tf.int32),
    }


class _StepTimer(keras.callbacks.Callback):
    """Seconds and Seq2Seq loss of each step.

    Keras turns the logs into Python numbers before calling back, so the step has
    finished (also on a GPU) when the clock stops.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.losses = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.losses.append(logs["seq2seq/loss"])


def measure(shapes, task, warmup, repetitions, policy="float32"):
    """Target tokens/s samples of `fit` on synthetic batches, and the Seq2Seq losses.

    task: seq2seq, persona or multitask. The multi-task step trains the persona
    model and the autoencoder (MTASK-M) and counts both tasks' target tokens. The
    same batch every step: its loss must fall (a check that training works).
    """
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(1)
        with_autoencoder = task == "multitask"
        model = multitask.MultiTaskModel(shapes.config(task != "seq2seq"), with_autoencoder)
        model.compile()
        data = {"seq2seq": _batch(shapes, 1)}
        if with_autoencoder:
            data["autoencoder"] = _batch(shapes, 2)
        dataset = tf.data.Dataset.from_tensors(data).repeat()
        timer = _StepTimer()
        model.fit(
            dataset,
            epochs=1,
            steps_per_epoch=warmup + repetitions,
            callbacks=[timer],
            shuffle=False,
            verbose=0,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    tokens = shapes.batch_size * shapes.target_length * len(data)
    return stats.rates(tokens, timer.seconds[warmup:]), timer.losses


def result(samples, flops_per_token, peak_float32, losses=None):
    """The JSON entry of one training figure."""
    tokens = stats.summary(samples)
    gflops = tokens["median"] * flops_per_token / 1e9
    entry = {
        "tokens_per_s": tokens["median"],
        "tokens_per_s_range": tokens,
        "flops_per_token": flops_per_token,
        "gflops": gflops,
        "fraction_of_bound": gflops / peak_float32 if peak_float32 else None,
    }
    if losses:
        entry.update(first_loss=losses[0], last_loss=losses[-1])
    return entry
