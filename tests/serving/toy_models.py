"""Small SavedModels with the exporter's signatures, built from core TensorFlow ops.

`generate` answers `"{tag} {speaker}: {message}"` (and a second, shorter
response) and also returns `batch_size`, the leading dimension it ran with, so
tests can see server-side batching; with `display`, also the responses in «»
as their readable form, like mtask_tf's export. The graph rejects an empty message and a
speaker other than HAMLET or IAGO with InvalidArgumentError, like the real model.
"""

import os
import shutil
import tempfile

import tensorflow as tf

SPEAKERS = ("HAMLET", "IAGO")
_TEXT = tf.TensorSpec([None], tf.string)


def _check(message, speaker):
    tf.debugging.Assert(tf.reduce_all(tf.strings.length(message) > 0), ["empty message"])
    known = tf.reduce_any(tf.equal(speaker[:, None], tf.constant(SPEAKERS)[None, :]), axis=1)
    tf.debugging.Assert(tf.reduce_all(known), ["unknown speaker:", speaker], summarize=4)


def _score(text):
    """Toy log-probability (minus the length) and token count of each string."""
    log_prob = -tf.cast(tf.strings.length(text), tf.float32)
    num_tokens = tf.cast(tf.strings.split(text).row_lengths(), tf.int32)
    return {"log_prob": log_prob, "num_tokens": num_tokens}


class ToyModel(tf.Module):
    """Args: tag: a string every response starts with, to tell versions apart;
    display: whether `generate` also returns `display`."""

    def __init__(self, tag, display=False):
        super().__init__()
        self.tag = tf.Variable(tag)
        self.display = display

    @tf.function(input_signature=[_TEXT, _TEXT, _TEXT])
    def generate(self, context, message, speaker):
        _check(message, speaker)
        batch = tf.shape(message)[0]
        first = tf.strings.join([self.tag, " ", speaker, ": ", message])
        second = tf.strings.join([self.tag, " ", speaker, ": ", context])
        responses = tf.stack([first, second], axis=1)  # [batch, 2]
        scores = tf.stack([_score(first)["log_prob"], _score(second)["log_prob"]], axis=1)
        shown = {"display": tf.strings.join(["«", responses, "»"])} if self.display else {}
        return {
            "responses": responses,
            **shown,
            "scores": scores,
            "forward_log_prob": scores * 2.0,
            "reverse_log_prob": scores / 2.0,
            "lengths": tf.cast(tf.strings.length(responses), tf.int32),
            "batch_size": tf.fill([batch], batch),
        }

    @tf.function(input_signature=[_TEXT, _TEXT, _TEXT, _TEXT])
    def score(self, context, message, speaker, response):
        _check(message, speaker)
        return _score(response)

    @tf.function(input_signature=[_TEXT, _TEXT])
    def reverse_score(self, message, response):
        return _score(message)

    @tf.function(input_signature=[_TEXT])
    def length(self, message):
        """One input and one output: REST answers with bare values."""
        return {"chars": tf.strings.length(message, unit="UTF8_CHAR")}


def save_toy_model(base_path, version, tag, display=False):
    """Writes BASE/VERSION/ atomically (a rename), as an exporter should; returns it."""
    model = ToyModel(tag, display)
    signatures = {
        "generate": model.generate,
        "serving_default": model.generate,
        "score": model.score,
        "reverse_score": model.reverse_score,
        "length": model.length,
    }
    os.makedirs(base_path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{version}-", dir=base_path)
    tf.saved_model.save(model, staging, signatures=signatures)
    target = os.path.join(base_path, str(version))
    if os.path.exists(target):
        shutil.rmtree(target)
    os.rename(staging, target)
    return target
