"""The SavedModel: a `Responder` with TensorFlow Serving signatures.

Signatures (method name tensorflow/serving/predict), all inputs string [batch]:
    generate (= serving_default): context, message, speaker ->
        responses string [batch, N] (tokens), display string [batch, N] (the
        same responses as readable text, `data.detokenizer`), scores,
        forward_log_prob, reverse_log_prob float32 [batch, N] (reranked, best
        first), lengths int32 [batch, N]
    score: context, message, speaker, response -> log_prob float32 [batch],
        num_tokens int32 [batch]
    reverse_score (with a reverse model): message, response -> log_prob, num_tokens
    generate_seeded (exports that sample, --num_samples): context, message,
        speaker, and seed int64 [batch] -> what generate returns

Sampling seeds. TensorFlow Serving's Predict needs every input of a
signature, so `generate` takes no seed: it draws with the seed fixed at
export (--sampling_seed), the same responses `decode` gives with that flag.
A client that wants other draws (e.g. "another answer") calls
generate_seeded with a seed per input. An input's samples depend only on
its seed and the input itself, not on what else is in the batch, so
server-side batching does not change them.
"""

import pathlib

import tensorflow as tf

from mtask_tf.data import detokenizer
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.export import layout

_GENERATE_OUTPUTS = (
    "responses",
    "display",
    "scores",
    "forward_log_prob",
    "reverse_log_prob",
    "lengths",
)
_S = responder_lib.STRING_BATCH
_SEED = responder_lib.SEED_BATCH


class ServingModule(tf.Module):
    """What is saved: the responder (tables, weights) and the signatures.

    Args:
        responder: a `Responder`.
    """

    def __init__(self, responder):
        super().__init__(name="mtask_tf")
        self.responder = responder
        self.generate = tf.function(self._generate, input_signature=[_S, _S, _S], autograph=False)
        self.score = tf.function(responder.score, input_signature=[_S, _S, _S, _S], autograph=False)
        # Without a reverse model there is nothing to serve reverse_score with.
        self.reverse_score = (
            tf.function(responder.reverse_score, input_signature=[_S, _S], autograph=False)
            if responder.reverse is not None
            else None
        )
        # Only an export that samples has draws for a seed to change.
        self.generate_seeded = (
            tf.function(self._generate_seeded, input_signature=[_S, _S, _S, _SEED], autograph=False)
            if responder.config.num_samples
            else None
        )

    def _generate(self, context, message, speaker):
        return _served(self.responder.generate(context, message, speaker))

    def _generate_seeded(self, context, message, speaker, seed):
        return _served(self.responder.generate_seeded(context, message, speaker, seed))

    def signatures(self):
        generate = self.generate.get_concrete_function()
        signatures = {
            "serving_default": generate,
            "generate": generate,
            "score": self.score.get_concrete_function(),
        }
        if self.reverse_score is not None:
            signatures["reverse_score"] = self.reverse_score.get_concrete_function()
        if self.generate_seeded is not None:
            signatures["generate_seeded"] = self.generate_seeded.get_concrete_function()
        return signatures


def _served(outputs):
    """The generate signature's outputs, with `display` added (the readable responses).

    Only the export computes `display` in the graph; the command lines and
    tests detokenize in Python (`runner`), so their Responder traces stay small.
    """
    outputs = dict(outputs, display=detokenizer.detokenize_tf(outputs["responses"]))
    return {name: outputs[name] for name in _GENERATE_OUTPUTS}


def save(module, export_base):
    """Writes export_base/<next version>/ and returns its path.

    The SavedModel is written beside it first and renamed into place, so a server
    watching export_base never sees a half-written version.
    """
    version = layout.next_version(export_base)
    path = pathlib.Path(export_base) / str(version)
    staging = pathlib.Path(export_base) / f".staging-{version}"
    tf.saved_model.save(module, str(staging), signatures=module.signatures())
    layout.write_speakers(module.responder.speaker_names, staging)
    staging.rename(path)
    return path
