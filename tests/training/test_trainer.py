"""The Trainer's stages, checkpoints, best model and its refusal to save NaNs."""

import json

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.model import builders
from mtask_tf.training import callbacks
from mtask_tf.training import loop
from mtask_tf.training import multitask
from mtask_tf.training import state as state_lib
from tests.helpers import training_batch

# One LSTM layer: the loop does not depend on the model's depth, and a smaller
# graph traces faster (the layers themselves: tests/model).
CONFIG = builders.ModelConfig(
    vocabulary_size=12, embedding_dim=4, units=8, num_layers=1, num_speakers=3, speaker_dim=4
)


def _trainer(model_dir, with_autoencoder=True, model=None, **config):
    """A Trainer of a new model, or of `model` (already traced: no new trace)."""
    if model is None:
        model = multitask.MultiTaskModel(CONFIG, with_autoencoder, learning_rate=0.01)
        model.compile()
    endless = lambda seed: tf.data.Dataset.from_tensors(training_batch(seed)).repeat()
    datasets = loop.Datasets(
        seq2seq=endless(1),
        autoencoder=endless(2) if with_autoencoder else None,
        dev=tf.data.Dataset.from_tensors(training_batch(3)),
        num_speakers=3,
    )
    defaults = dict(
        pretrain_max_steps=6,
        max_steps=4,
        eval_every=2,
        checkpoint_every=2,
        log_every=2,
        patience=100,
    )
    train_config = loop.TrainConfig(**{**defaults, **config})
    lines = []
    trainer = loop.Trainer(model, datasets, train_config, model_dir, lines.append, ["A", "B", "C"])
    return trainer, lines


def test_both_stages_run_the_best_model_is_recorded_and_a_restart_resumes(tmp_path):
    trainer, lines = _trainer(tmp_path)
    assert trainer.restore() is None
    assert trainer.run()
    assert int(trainer.state.step.numpy()) == 10
    assert int(trainer.state.stage.numpy()) == state_lib.DONE
    assert any("stage 2 (multitask) begins at step 6" in line for line in lines)
    assert any("autoencoder/loss" in line and "tokens/s" in line for line in lines)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["step"] == int(trainer.state.best_step.numpy())
    assert best["dev"]["perplexity"] == pytest.approx(float(trainer.state.best_perplexity.numpy()))
    assert set(best["dev"]["perplexity_by_speaker"]) <= {"A", "B", "C"}
    assert tf.train.latest_checkpoint(tmp_path / "best").endswith(f"ckpt-{best['step']}")

    # A restarted trainer (a new model) resumes where that one stopped.
    weights = [v.numpy() for v in trainer.model.weights]
    again, _ = _trainer(tmp_path, max_steps=8)
    assert again.restore() == 10
    for before, v in zip(weights, again.model.weights):
        np.testing.assert_array_equal(before, v.numpy())
    again.state.stage.assign(state_lib.MULTITASK)  # As if killed during stage 2.
    assert again.run()
    assert int(again.state.step.numpy()) == 14


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer, _ = _trainer(tmp_path, with_autoencoder=False, pretrain_max_steps=4)
    trainer.run()
    good = tf.train.latest_checkpoint(tmp_path / "checkpoints")
    # A trainer of the same model (its train step is traced already) restores
    # that checkpoint and runs on with NaN weights.
    broken, _ = _trainer(
        tmp_path, with_autoencoder=False, model=trainer.model, pretrain_max_steps=10
    )
    broken.restore()
    bias = broken.model.models.decoder.output_projection.bias
    bias.assign(np.full(bias.shape, np.nan, np.float32))
    broken.state.stage.assign(state_lib.PRETRAIN)
    with pytest.raises(callbacks.TrainingDiverged, match="seq2seq/loss is nan at step 5"):
        broken.run()
    assert tf.train.latest_checkpoint(tmp_path / "checkpoints") == good


def test_patience_ends_a_stage(tmp_path):
    trainer, lines = _trainer(
        tmp_path, with_autoencoder=False, pretrain_max_steps=1000, patience=1, learning_rate=0.0
    )
    trainer.model.seq2seq_optimizer.learning_rate.assign(0.0)
    trainer.run()
    assert any("converged" in line for line in lines)
    assert int(trainer.state.step.numpy()) == 4  # Evaluations at 2 (best) and 4 (no better).
