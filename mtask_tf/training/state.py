"""Training state that must survive a restart, kept in every checkpoint."""

import math

import tensorflow as tf

# Stage numbers as in the paper's Fig. 3.
PRETRAIN, MULTITASK, DONE = 1, 2, 3
STAGE_NAMES = {PRETRAIN: "seq2seq", MULTITASK: "multitask", DONE: "done"}


class TrainingState(tf.Module):
    """Counters and the early-stopping record, as variables so checkpoints hold them."""

    def __init__(self):
        super().__init__(name="training_state")
        self.stage = tf.Variable(PRETRAIN, dtype=tf.int64, trainable=False, name="stage")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.stage_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage_step")
        self.best_perplexity = tf.Variable(
            math.inf, dtype=tf.float64, trainable=False, name="best_perplexity"
        )
        self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_step")
        self.evals_without_improvement = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="evals_without_improvement"
        )

    def start_stage(self, stage):
        self.stage.assign(stage)
        self.stage_step.assign(0)
        self.evals_without_improvement.assign(0)

    def advance(self):
        self.step.assign_add(1)
        self.stage_step.assign_add(1)

    def record_evaluation(self, perplexity):
        """Returns True if `perplexity` is the best so far (lower is better)."""
        if perplexity < self.best_perplexity.numpy():
            self.best_perplexity.assign(perplexity)
            self.best_step.assign(self.step)
            self.evals_without_improvement.assign(0)
            return True
        self.evals_without_improvement.assign_add(1)
        return False

    @property
    def stage_name(self):
        return STAGE_NAMES[int(self.stage.numpy())]
