"""The multi-task model: one `train_step` alternates Seq2Seq and Autoencoder updates."""

import keras
import tensorflow as tf

from mtask_tf import training
from mtask_tf.model import builders
from mtask_tf.model import losses
from mtask_tf.training import optimizers


class MultiTaskModel(keras.Model):
    """Trains a Seq2Seq model and, optionally, an Autoencoder that shares its decoder.

    A batch is a dict with a "seq2seq" batch and, in the multi-task stage, an
    "autoencoder" batch (see `mtask_tf.data.pipeline`). `train_step` first takes a
    Seq2Seq step, then an Autoencoder step (the paper's Fig. 3, steps 3b and 3d).
    Each task has its own Adam optimizer that updates only that task's variables,
    so a Seq2Seq update leaves the Autoencoder's encoder untouched and vice versa
    (Adam moves weights even when their gradient is zero, so sharing one optimizer
    with zero gradients would not).

    Args:
        config: a `builders.ModelConfig`.
        with_autoencoder: build the Autoencoder task.
        learning_rate: Adam's learning rate for both tasks.
        clip_norm: global gradient-norm clipping per update; None turns it off.

    Example:
    >>> model = MultiTaskModel(builders.ModelConfig(vocabulary_size=20, embedding_dim=4,
    ...                        units=8, num_layers=2), with_autoencoder=True)
    >>> model.compile()
    >>> model.fit(dataset_of_seq2seq_and_autoencoder_batches, steps_per_epoch=10)
    """

    def __init__(
        self, config, with_autoencoder, learning_rate=1e-3, clip_norm=training.CLIP_NORM, **kwargs
    ):
        super().__init__(**kwargs)
        self.config = config
        self.models = builders.build_models(config, with_autoencoder)
        self.seq2seq = self.models.seq2seq
        self.autoencoder = self.models.autoencoder
        self.seq2seq_optimizer = optimizers.FusedAdam(
            learning_rate, global_clipnorm=clip_norm, name="seq2seq_adam"
        )
        self.autoencoder_optimizer = (
            optimizers.FusedAdam(learning_rate, global_clipnorm=clip_norm, name="autoencoder_adam")
            if with_autoencoder
            else None
        )
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("seq2seq/loss", "autoencoder/loss")
        }
        self.token_counters = {
            name: keras.metrics.Sum(name=name) for name in ("seq2seq/tokens", "autoencoder/tokens")
        }
        self.built = True  # The functional models built every variable already.
        # Slots are made here, outside any tf.function, and before a checkpoint
        # restore needs them.
        self.seq2seq_optimizer.build(self.seq2seq.trainable_variables)
        if self.autoencoder_optimizer is not None:
            self.autoencoder_optimizer.build(self.autoencoder.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras (3.x, TensorFlow backend) builds a model under a strategy by tracing
        # it on the mean of the first distributed batch; MultiWorkerMirroredStrategy
        # cannot average a nested dict of int tensors ("Attempt to convert a value
        # ({'seq2seq': {'source': PerReplica..."). Every variable of this model and
        # its optimizers exists from __init__ on, so there is nothing to build.
        return

    def call(self, inputs, training=False):
        return self.seq2seq(builders.model_feed(inputs), training=training)

    def compile(self, **kwargs):
        super().compile(optimizer=self.seq2seq_optimizer, **kwargs)

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.token_counters.values())

    # Keras traces this with AutoGraph on, which would rewrite every function it
    # calls (Keras's own included) at each trace; the code has no Python control
    # flow on tensors (loops are tf.scan / tf.while_loop), so tracing it as written
    # gives the same graph, sooner.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        self._task_step("seq2seq", self.seq2seq, self.seq2seq_optimizer, data["seq2seq"])
        if "autoencoder" in data:
            self._task_step(
                "autoencoder", self.autoencoder, self.autoencoder_optimizer, data["autoencoder"]
            )
        strategy = tf.distribute.get_strategy()
        # Keras averages the logs over replicas: token counts times replicas are sums.
        logs = {
            m.name: m.result() * (strategy.num_replicas_in_sync if "tokens" in m.name else 1)
            for m in self.metrics
        }
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages multi-worker logs along axis 0, which a scalar lacks.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _task_step(self, task, model, optimizer, batch):
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            logits = model(builders.model_feed(batch), training=True)
            nll, weights = losses.token_nll_compiled(logits, batch["target_out"])
            tokens = tf.reduce_sum(weights)
            loss = tf.reduce_sum(nll) / tf.maximum(tokens, 1.0)
            # Gradients are summed over replicas, so each one contributes its share.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = loss / replicas
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply(gradients, variables)
        self.trackers[f"{task}/loss"].update_state(nll, sample_weight=weights)
        self.token_counters[f"{task}/tokens"].update_state(tokens)

    def test_step(self, data):
        raise NotImplementedError("use mtask_tf.evaluation.perplexity for dev/test perplexity")
