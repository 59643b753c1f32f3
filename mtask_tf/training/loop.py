"""The paper's training procedure (Fig. 3): Seq2Seq pre-training, then multi-task training."""

import dataclasses
import pathlib

import tensorflow as tf

from mtask_tf import training
from mtask_tf.evaluation import perplexity as perplexity_lib
from mtask_tf.model import builders
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import callbacks as callbacks_lib
from mtask_tf.training import state as state_lib


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How long and how to train. Steps count `train_step` calls (one batch per task)."""

    batch_size: int = 128
    learning_rate: float = 1e-3
    clip_norm: float = training.CLIP_NORM
    pretrain: bool = True
    pretrain_max_steps: int = 50_000
    max_steps: int = 50_000
    eval_every: int = 1000
    patience: int = 3
    checkpoint_every: int = 500
    log_every: int = 100
    keep_checkpoints: int = 3
    seed: int = 1


@dataclasses.dataclass
class Datasets:
    """Inputs of a run: endless training streams and the dev set for perplexity."""

    seq2seq: tf.data.Dataset
    autoencoder: tf.data.Dataset | None
    dev: tf.data.Dataset
    num_speakers: int


class Trainer:
    """Runs the stages of one model directory, resuming from its last checkpoint.

    Args:
        model: a `MultiTaskModel`, compiled, built under the distribution strategy.
        datasets: `Datasets`.
        config: `TrainConfig`.
        model_dir: where checkpoints (`checkpoints/`), the best model (`best/`)
            and TensorBoard events (`train/`, `dev/`) go.
        log: function(str) that prints progress.
        speakers: speaker names by id, for per-speaker dev perplexity.
        sample: optional function() -> list of strings, sample responses written
            to TensorBoard at each evaluation.
        read_dir: where checkpoints are restored from, if not `model_dir`: a
            multi-worker job's model directory, which only its chief writes
            (`distribution.Place`).
    """

    def __init__(
        self, model, datasets, config, model_dir, log, speakers, sample=None, read_dir=None
    ):
        self.model = model
        self.datasets = datasets
        self.config = config
        self.model_dir = pathlib.Path(model_dir)
        self.read_dir = pathlib.Path(read_dir or model_dir)
        self.log = log
        self.speakers = speakers
        self.sample = sample
        self.last_evaluation = None
        self.state = state_lib.TrainingState()
        optimizers = {"seq2seq_optimizer": model.seq2seq_optimizer}
        if model.autoencoder_optimizer is not None:
            optimizers["autoencoder_optimizer"] = model.autoencoder_optimizer
        variables = builders.variable_map(model.seq2seq, model.autoencoder)
        self.checkpoint = tf.train.Checkpoint(variables=variables, state=self.state, **optimizers)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.model_dir / "checkpoints", config.keep_checkpoints
        )
        self.best_checkpoint = tf.train.Checkpoint(variables=variables)
        self.best_manager = tf.train.CheckpointManager(
            self.best_checkpoint, self.model_dir / "best", max_to_keep=1
        )
        self.train_writer = tf.summary.create_file_writer(str(self.model_dir / "train"))
        self.dev_writer = tf.summary.create_file_writer(str(self.model_dir / "dev"))
        self.stop_request = callbacks_lib.StopRequest()

    def restore(self):
        """Restores the last checkpoint, if any; returns its global step or None."""
        latest = tf.train.latest_checkpoint(self.read_dir / "checkpoints")
        if latest is None:
            return None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.state.step.numpy())

    def start_from(self, checkpoint_path, source):
        """Starts a fresh run from another model's weights; they are the best of step 0.

        Only the SEQ2SEQ graph's weights are taken (an AUTOENCODER's own encoder,
        if any, starts fresh). Their dev perplexity is measured and recorded, so
        the run keeps them unless training improves on them.
        """
        variables = builders.variable_map(self.model.seq2seq)
        tf.train.Checkpoint(variables=variables).restore(
            checkpoint_path
        ).expect_partial().assert_existing_objects_matched()
        perplexity = self.evaluate()
        self.state.record_evaluation(perplexity)
        self.save_best()
        self.log(f"initial weights from {source}: dev perplexity {perplexity:.2f}")

    def stages(self):
        stages = []
        if self.config.pretrain or self.datasets.autoencoder is None:
            stages.append(state_lib.PRETRAIN)
        if self.datasets.autoencoder is not None:
            stages.append(state_lib.MULTITASK)
        return stages

    def run(self):
        """Trains every remaining stage. Returns False if stopped by a signal."""
        self.stop_request.install()
        for stage in self.stages():
            if stage < self.state.stage.numpy():
                continue
            if stage > self.state.stage.numpy() or self.state.stage_step.numpy() == 0:
                self._begin(stage)
            if not self._run_stage(stage):
                return False
            self.save_checkpoint()
        self.state.stage.assign(state_lib.DONE)
        self.manager.save(checkpoint_number=int(self.state.step.numpy()))
        return True

    def _begin(self, stage):
        best = tf.train.latest_checkpoint(self.read_dir / "best")
        if stage == state_lib.MULTITASK and best:
            # Multi-task training starts from the converged Seq2Seq model.
            self.best_checkpoint.restore(best).expect_partial()
        self.state.start_stage(stage)
        self.log(
            f"stage {stage} ({self.state.stage_name}) begins at step {int(self.state.step.numpy())}"
        )

    def _run_stage(self, stage):
        max_steps = (
            self.config.pretrain_max_steps if stage == state_lib.PRETRAIN else self.config.max_steps
        )
        remaining = max_steps - int(self.state.stage_step.numpy())
        if remaining <= 0 or self.state.evals_without_improvement.numpy() >= self.config.patience:
            return True  # Finished before a restart.
        callback = callbacks_lib.StepCallback(
            state=self.state,
            max_stage_steps=max_steps,
            log_every=self.config.log_every,
            eval_every=self.config.eval_every,
            checkpoint_every=self.config.checkpoint_every,
            patience=self.config.patience,
            evaluate=self.evaluate,
            save_checkpoint=self.save_checkpoint,
            save_best=self.save_best,
            writer=self.train_writer,
            log=self.log,
            stop_request=self.stop_request,
        )
        self.model.fit(
            self._stage_dataset(stage),
            epochs=1,
            steps_per_epoch=remaining,
            callbacks=[callback],
            verbose=0,
            shuffle=False,
        )
        if self.stop_request.requested:
            self.log(
                f"received {self.stop_request.signal_name}: saved step "
                f"{int(self.state.step.numpy())}; run the same command to resume"
            )
            return False
        if not callback.converged and self.state.stage_step.numpy() % self.config.eval_every:
            callback.evaluate_now()
        return True

    def _stage_dataset(self, stage):
        if stage == state_lib.PRETRAIN:
            return tf.data.Dataset.zip({"seq2seq": self.datasets.seq2seq})
        return tf.data.Dataset.zip(
            {"seq2seq": self.datasets.seq2seq, "autoencoder": self.datasets.autoencoder}
        )

    def evaluate(self):
        result = perplexity_lib.perplexity(
            self.model.seq2seq, self.datasets.dev, self.datasets.num_speakers
        )
        self.last_evaluation = result
        with self.dev_writer.as_default(step=int(self.state.step.numpy())):
            tf.summary.scalar("dev/perplexity", result.perplexity)
            for speaker_id, value in result.by_speaker.items():
                tf.summary.scalar(f"dev/perplexity/{self.speakers[speaker_id]}", value)
            if self.sample is not None:
                tf.summary.text("dev/samples", "\n\n".join(self.sample()))
        self.dev_writer.flush()
        return result.perplexity

    def save_checkpoint(self):
        self.manager.save(checkpoint_number=int(self.state.step.numpy()))

    def save_best(self):
        """Saves the weights and, beside them, the dev perplexity they reached."""
        step = int(self.state.step.numpy())
        self.best_manager.save(checkpoint_number=step)
        dev = self.last_evaluation.to_dict(self.speakers)
        model_dir_lib.BestRecord(step, self.state.stage_name, dev).save(self.model_dir)
