"""The multi-task train_step: task isolation, learning, and perplexity."""

import math

import numpy as np
import tensorflow as tf

from mtask_tf.evaluation import perplexity
from mtask_tf.model import builders
from mtask_tf.training import multitask

CONFIG = builders.ModelConfig(
    vocabulary_size=12, embedding_dim=4, units=8, num_layers=2, num_speakers=3, speaker_dim=4
)


def _batch(seed):
    rng = np.random.RandomState(seed)
    target_out = rng.randint(4, 12, (4, 3)).astype("int32")
    target_out[:, -1] = 3
    target_out[1, 1:] = [3, 0]
    target_in = np.concatenate([np.full((4, 1), 2, "int32"), target_out[:, :-1]], 1)
    target_in[1, 2] = 0
    return {
        "source": rng.randint(3, 12, (4, 5)).astype("int32"),
        "target_in": target_in,
        "target_out": target_out,
        "speaker": rng.randint(0, 3, (4,)).astype("int32"),
    }


def _snapshot(layer):
    return [v.numpy().copy() for v in layer.trainable_variables]


def _changed(before, layer):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, layer.trainable_variables)]


def _model():
    model = multitask.MultiTaskModel(CONFIG, with_autoencoder=True, learning_rate=0.01)
    model.compile()
    return model


def test_each_task_updates_only_its_own_encoder_bit_for_bit():
    model = _model()
    both = tf.data.Dataset.from_tensors({"seq2seq": _batch(1), "autoencoder": _batch(2)})
    # A few multi-task steps first, so that both Adams carry momentum.
    model.fit(both.repeat(), steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)

    autoencoder_encoder = _snapshot(model.models.autoencoder_encoder)
    decoder = _snapshot(model.models.decoder)
    seq2seq_only = tf.data.Dataset.from_tensors({"seq2seq": _batch(3)})
    model.fit(seq2seq_only.repeat(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert not any(_changed(autoencoder_encoder, model.models.autoencoder_encoder))
    assert all(_changed(decoder, model.models.decoder)[:3])

    seq2seq_encoder = _snapshot(model.models.encoder)
    decoder = _snapshot(model.models.decoder)
    model._task_step("autoencoder", model.autoencoder, model.autoencoder_optimizer, _batch(4))
    assert not any(_changed(seq2seq_encoder, model.models.encoder))
    assert any(_changed(decoder, model.models.decoder))


def test_train_step_lowers_both_losses():
    model = _model()
    data = tf.data.Dataset.from_tensors({"seq2seq": _batch(1), "autoencoder": _batch(2)})
    first = model.fit(data.repeat(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    for metric in model.metrics:
        metric.reset_state()
    later = model.fit(data.repeat(), steps_per_epoch=60, epochs=1, verbose=0, shuffle=False).history
    assert later["seq2seq/loss"][0] < first["seq2seq/loss"][0] - 0.3
    assert later["autoencoder/loss"][0] < first["autoencoder/loss"][0] - 0.3
    assert later["seq2seq/tokens"][0] == 60 * 11  # Real tokens only: EOS in, padding out.


def test_perplexity_is_exp_of_mean_token_nll_including_eos():
    model = _model()
    batches = [_batch(5), _batch(6)]
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


def test_mixed_bfloat16_trains_and_decodes():
    import keras

    from mtask_tf.decoding import generator

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _model()
        data = tf.data.Dataset.from_tensors({"seq2seq": _batch(1), "autoencoder": _batch(2)})
        history = model.fit(
            data.repeat(), steps_per_epoch=3, epochs=1, verbose=0, shuffle=False
        ).history
        assert math.isfinite(history["seq2seq/loss"][0])
        assert model.seq2seq.weights[0].dtype == "float32"
        assert (
            model.seq2seq({k: _batch(1)[k] for k in ("source", "target_in", "speaker")}).dtype
            == tf.bfloat16
        )
        ids, lengths = generator.Generator(model.models.encoder, model.models.decoder).greedy(
            tf.constant(_batch(1)["source"]), tf.constant(_batch(1)["speaker"]), max_length=4
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


def _losses_under(policy, steps=40):
    """Seq2Seq losses of `steps` updates on one repeated batch, same initial weights."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(7)
        model = multitask.MultiTaskModel(CONFIG, with_autoencoder=True, learning_rate=0.01)
        model.compile()
        master_dtypes = {v.dtype for v in model.seq2seq.trainable_variables}
        data = tf.data.Dataset.from_tensors({"seq2seq": _batch(1), "autoencoder": _batch(2)})
        # One step per epoch: the history holds every step's loss.
        history = model.fit(
            data.repeat(), steps_per_epoch=1, epochs=steps, verbose=0, shuffle=False
        ).history
        return np.array(history["seq2seq/loss"]), master_dtypes
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bf16_and_float32_losses_track_each_other():
    fp32, fp32_dtypes = _losses_under("float32")
    bf16, bf16_dtypes = _losses_under("mixed_bfloat16")
    assert fp32_dtypes == bf16_dtypes == {"float32"}  # float32 master weights
    assert bf16[-1] < 0.7 * bf16[0] and fp32[-1] < 0.7 * fp32[0]  # both learn
    np.testing.assert_allclose(bf16, fp32, rtol=0.02)  # and follow the same curve (0.2 % here)
    assert np.abs(bf16 - fp32).max() > 0  # but bf16 really computed in bfloat16
