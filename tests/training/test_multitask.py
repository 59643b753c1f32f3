"""The multi-task train_step: task isolation, learning, and perplexity."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf.evaluation import perplexity
from mtask_tf.model import builders
from mtask_tf.training import multitask
from tests.helpers import training_batch

# One LSTM layer: the tasks' isolation, the losses and the precision do not depend
# on the depth, and a smaller graph traces faster (two-layer models: tests/model, and
# by the CLI, in float32 and bfloat16, conftest.trained).
CONFIG = builders.ModelConfig(
    vocabulary_size=12, embedding_dim=4, units=8, num_layers=1, num_speakers=3, speaker_dim=4
)


def _snapshot(layer):
    return [v.numpy().copy() for v in layer.trainable_variables]


def _changed(before, layer):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, layer.trainable_variables)]


def _model():
    model = multitask.MultiTaskModel(CONFIG, with_autoencoder=True, learning_rate=0.01)
    model.compile()
    return model


def _both_tasks():
    return tf.data.Dataset.from_tensors(
        {"seq2seq": training_batch(1), "autoencoder": training_batch(2)}
    )


def _train_under(policy, steps=40):
    """A model and each of its `steps` multi-task updates' losses and tokens, on one batch.

    The same initial weights under every policy; the model's layers keep the policy.
    """
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(7)
        model = _model()
        # One step per epoch: the history holds every step's metrics.
        history = model.fit(
            _both_tasks().repeat(), steps_per_epoch=1, epochs=steps, verbose=0, shuffle=False
        ).history
        return model, {name: np.array(values) for name, values in history.items()}
    finally:
        keras.mixed_precision.set_global_policy("float32")


# Trained once per test process; tests read their histories (and
# test_each_task_updates_only_its_own_encoder_bit_for_bit trains the float32 model on).
@pytest.fixture(scope="module")
def float32_run():
    return _train_under("float32")


@pytest.fixture(scope="module")
def bfloat16_run():
    return _train_under("mixed_bfloat16")


def test_each_task_updates_only_its_own_encoder_bit_for_bit(float32_run):
    model, _ = float32_run  # after multi-task steps: both Adams carry momentum

    autoencoder_encoder = _snapshot(model.models.autoencoder_encoder)
    decoder = _snapshot(model.models.decoder)
    seq2seq_only = tf.data.Dataset.from_tensors({"seq2seq": training_batch(3)})
    model.fit(seq2seq_only.repeat(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert not any(_changed(autoencoder_encoder, model.models.autoencoder_encoder))
    assert all(_changed(decoder, model.models.decoder)[:3])

    seq2seq_encoder = _snapshot(model.models.encoder)
    decoder = _snapshot(model.models.decoder)
    model._task_step(
        "autoencoder", model.autoencoder, model.autoencoder_optimizer, training_batch(4)
    )
    assert not any(_changed(seq2seq_encoder, model.models.encoder))
    assert any(_changed(decoder, model.models.decoder))


def test_train_step_lowers_both_losses(float32_run):
    model, history = float32_run
    assert history["seq2seq/loss"][-1] < history["seq2seq/loss"][0] - 0.3
    assert history["autoencoder/loss"][-1] < history["autoencoder/loss"][0] - 0.3
    # Real tokens only (EOS in, padding out), summed over an epoch's steps.
    assert set(history["seq2seq/tokens"]) == {11}
    later = model.fit(
        _both_tasks().repeat(), steps_per_epoch=6, epochs=1, verbose=0, shuffle=False
    ).history
    assert later["seq2seq/tokens"][0] == 6 * 11


def test_perplexity_is_exp_of_mean_token_nll_including_eos():
    model = _model()
    batches = [training_batch(5), training_batch(6)]
    total_nll, total_tokens, by_speaker = 0.0, 0, {}
    for batch in batches:
        logits = model.seq2seq({k: batch[k] for k in ("source", "target_in", "speaker")})
        log_probs = tf.nn.log_softmax(logits).numpy()
        for row in range(4):
            for t, token in enumerate(batch["target_out"][row]):
                if token:
                    nll = -log_probs[row, t, token]
                    total_nll += nll
                    total_tokens += 1
                    s = by_speaker.setdefault(int(batch["speaker"][row]), [0.0, 0])
                    s[0] += nll
                    s[1] += 1
    dataset = tf.data.Dataset.from_tensor_slices(
        {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    )
    result = perplexity.perplexity(model.seq2seq, dataset, num_speakers=3)
    assert result.tokens == total_tokens == 22
    assert math.isclose(result.perplexity, math.exp(total_nll / total_tokens), rel_tol=1e-5)
    for speaker, (nll, tokens) in by_speaker.items():
        assert math.isclose(result.by_speaker[speaker], math.exp(nll / tokens), rel_tol=1e-5)


def test_mixed_bfloat16_trains_and_decodes(bfloat16_run):
    import keras

    from mtask_tf.decoding import generator

    model, history = bfloat16_run
    assert np.isfinite(history["seq2seq/loss"]).all()
    assert model.seq2seq.weights[0].dtype == "float32"
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as when it was built
    try:
        assert (
            model.seq2seq(
                {k: training_batch(1)[k] for k in ("source", "target_in", "speaker")}
            ).dtype
            == tf.bfloat16
        )
        ids, lengths = generator.Generator(model.models.encoder, model.models.decoder).greedy(
            tf.constant(training_batch(1)["source"]),
            tf.constant(training_batch(1)["speaker"]),
            max_length=4,
        )
        assert ids.shape == (4, 4) and all(0 < n <= 4 for n in lengths.numpy())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_fused_adam_matches_keras_adam():
    import keras

    from mtask_tf.training import optimizers

    rng = np.random.RandomState(0)
    fused = [keras.Variable(rng.randn(5, 3).astype("float32")) for _ in range(2)]
    plain = [keras.Variable(v.numpy()) for v in fused]
    initial = [v.numpy().copy() for v in fused]
    a = optimizers.FusedAdam(0.01, global_clipnorm=1.0)
    b = keras.optimizers.Adam(0.01, global_clipnorm=1.0)
    apply_fused = tf.function(lambda grads: a.apply(grads, fused))
    apply_plain = tf.function(lambda grads: b.apply(grads, plain))
    for _ in range(5):
        grads = [tf.constant(rng.randn(5, 3).astype("float32")) for _ in range(2)]
        apply_fused(grads)
        apply_plain(grads)
    for f, p, start in zip(fused, plain, initial):
        np.testing.assert_allclose(f.numpy(), p.numpy(), atol=2e-6)
        assert np.abs(f.numpy() - start).min() > 1e-3  # Every weight moved.
    assert int(a.iterations.numpy()) == 5


def test_bf16_and_float32_losses_track_each_other(float32_run, bfloat16_run):
    (fp32_model, fp32), (bf16_model, bf16) = float32_run, bfloat16_run
    fp32, bf16 = fp32["seq2seq/loss"], bf16["seq2seq/loss"]
    master_dtypes = lambda model: {v.dtype for v in model.seq2seq.trainable_variables}
    assert master_dtypes(fp32_model) == master_dtypes(bf16_model) == {"float32"}  # float32 master
    assert bf16[-1] < 0.7 * bf16[0] and fp32[-1] < 0.7 * fp32[0]  # both learn
    np.testing.assert_allclose(bf16, fp32, rtol=0.02)  # and follow the same curve (0.2 % here)
    assert np.abs(bf16 - fp32).max() > 0  # but bf16 really computed in bfloat16
