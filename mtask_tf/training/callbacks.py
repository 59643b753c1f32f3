"""Keras callbacks of the training loop: steps, progress, summaries, evaluation, checkpoints."""

import math
import signal
import time

import keras
import tensorflow as tf

from mtask_tf import errors
from mtask_tf import progress


class TrainingDiverged(errors.UserError):
    """A loss became NaN or infinite; the last good checkpoint is left as it was."""


class StopRequest:
    """Turns SIGTERM (and SIGINT) into a request to save and stop after the current step."""

    def __init__(self):
        self.signal_name = None

    def install(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self):
        return self.signal_name is not None


class StepCallback(keras.callbacks.Callback):
    """Counts steps, stops on a non-finite loss, logs, writes summaries, evaluates, saves.

    One callback keeps the order of these actions explicit: a step with a NaN loss
    is never checkpointed, and an evaluation that sets a new best is saved first.

    Args:
        state: the `TrainingState`.
        max_stage_steps: steps after which the current stage ends.
        log_every, eval_every, checkpoint_every: intervals in steps.
        patience: evaluations without improvement that end the stage.
        evaluate: function() -> dev perplexity (float), also writing its summaries.
        save_checkpoint: function(), save_best: function().
        writer: a tf.summary writer for training scalars.
        log: function(str) for progress lines.
        stop_request: a `StopRequest`.
    """

    def __init__(
        self,
        *,
        state,
        max_stage_steps,
        log_every,
        eval_every,
        checkpoint_every,
        patience,
        evaluate,
        save_checkpoint,
        save_best,
        writer,
        log,
        stop_request,
    ):
        super().__init__()
        self.state = state
        self.max_stage_steps = max_stage_steps
        self.log_every = log_every
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.patience = patience
        self.evaluate = evaluate
        self.save_checkpoint = save_checkpoint
        self.save_best = save_best
        self.writer = writer
        self.log = log
        self.stop_request = stop_request
        self.converged = False
        self._last_time = time.time()
        self._last_step = int(state.stage_step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.state.advance()
        self._check_finite(logs)
        step = int(self.state.stage_step.numpy())
        if step % self.log_every == 0:
            self._log_progress(logs)
        if step % self.eval_every == 0:
            self.evaluate_now()
        if step % self.checkpoint_every == 0 or self.stop_request.requested:
            self.save_checkpoint()
        if step >= self.max_stage_steps:
            self.log(f"{self.state.stage_name}: reached the step limit ({self.max_stage_steps})")
            self.model.stop_training = True
        if self.stop_request.requested or self.converged:
            self.model.stop_training = True

    def _check_finite(self, logs):
        for name, value in logs.items():
            if name.endswith("/loss") and not math.isfinite(value):
                raise TrainingDiverged(
                    f"{name} is {value} at step {int(self.state.step.numpy())}; training "
                    "stopped and the last good checkpoint was kept. Try a lower "
                    "--learning_rate or --clip_norm, then rerun the same command to resume."
                )

    def _log_progress(self, logs):
        now = time.time()
        steps = int(self.state.stage_step.numpy()) - self._last_step
        seconds = max(now - self._last_time, 1e-9)
        tasks = [
            n[: -len("/loss")]
            for n in sorted(logs)
            if n.endswith("/loss") and logs.get(n[: -len("/loss")] + "/tokens", 0) > 0
        ]
        tokens = sum(logs[t + "/tokens"] for t in tasks)
        tokens_per_s = tokens / seconds
        remaining = (
            (self.max_stage_steps - int(self.state.stage_step.numpy())) * seconds / max(steps, 1)
        )
        step = int(self.state.step.numpy())
        losses = "  ".join(f"{t}/loss {logs[t + '/loss']:.3f}" for t in tasks)
        self.log(
            f"[{self.state.stage_name}] step {step} ({int(self.state.stage_step.numpy())}/"
            f"{self.max_stage_steps})  {losses}  {tokens_per_s:,.0f} tokens/s  "
            f"ETA {progress.short_duration(remaining)} at most"
        )
        with self.writer.as_default(step=step):
            for t in tasks:
                tf.summary.scalar(f"{t}/loss", logs[t + "/loss"])
            tf.summary.scalar("train/tokens_per_s", tokens_per_s)
            tf.summary.scalar("train/steps_per_s", steps / seconds)
            tf.summary.scalar("train/stage", int(self.state.stage.numpy()))
            learning_rate = tf.convert_to_tensor(self.model.seq2seq_optimizer.learning_rate)
            tf.summary.scalar("train/learning_rate", float(learning_rate))
        for metric in self.model.metrics:
            metric.reset_state()
        self._last_time, self._last_step = time.time(), int(self.state.stage_step.numpy())

    def evaluate_now(self):
        perplexity = self.evaluate()
        improved = self.state.record_evaluation(perplexity)
        best = self.state.best_perplexity.numpy()
        if improved:
            self.save_best()
        waited = int(self.state.evals_without_improvement.numpy())
        self.log(
            f"[{self.state.stage_name}] step {int(self.state.step.numpy())}  dev perplexity "
            f"{perplexity:.2f}  best {best:.2f} (step {int(self.state.best_step.numpy())})"
            + ("  new best, saved" if improved else f"  no improvement {waited}/{self.patience}")
        )
        if waited >= self.patience:
            self.log(
                f"{self.state.stage_name}: dev perplexity converged "
                f"({self.patience} evaluations without improvement)"
            )
            self.converged = True
        # Evaluation time should not count against tokens/s.
        self._last_time = time.time()
