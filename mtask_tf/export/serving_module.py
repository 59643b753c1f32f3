"""The SavedModel: a `Responder` with TensorFlow Serving signatures.

Signatures (method name tensorflow/serving/predict), all inputs string [batch]:
    generate (= serving_default): context, message, speaker ->
        responses string [batch, N], scores, forward_log_prob, reverse_log_prob
        float32 [batch, N] (reranked, best first), lengths int32 [batch, N]
    score: context, message, speaker, response -> log_prob float32 [batch],
        num_tokens int32 [batch]
    reverse_score (with a reverse model): message, response -> log_prob, num_tokens
"""

import pathlib

import tensorflow as tf

from mtask_tf.decoding import responder as responder_lib

_GENERATE_OUTPUTS = ("responses", "scores", "forward_log_prob", "reverse_log_prob", "lengths")
_S = responder_lib.STRING_BATCH


class ServingModule(tf.Module):
    """What is saved: the responder (tables, weights) and the signatures.

    Args:
        responder: a `Responder`.
    """

    def __init__(self, responder):
        super().__init__(name="mtask_tf")
        self.responder = responder
        self.generate = tf.function(self._generate, input_signature=[_S, _S, _S])
        self.score = tf.function(responder.score, input_signature=[_S, _S, _S, _S])
        # Without a reverse model there is nothing to serve reverse_score with.
        self.reverse_score = (
            tf.function(responder.reverse_score, input_signature=[_S, _S])
            if responder.reverse is not None
            else None
        )

    def _generate(self, context, message, speaker):
        outputs = self.responder.generate(context, message, speaker)
        return {name: outputs[name] for name in _GENERATE_OUTPUTS}

    def signatures(self):
        generate = self.generate.get_concrete_function()
        signatures = {
            "serving_default": generate,
            "generate": generate,
            "score": self.score.get_concrete_function(),
        }
        if self.reverse_score is not None:
            signatures["reverse_score"] = self.reverse_score.get_concrete_function()
        return signatures


def next_version(export_base):
    """1 + the highest integer version directory under export_base (1 if none)."""
    base = pathlib.Path(export_base)
    versions = (
        [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        if base.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def save(module, export_base):
    """Writes export_base/<next version>/ and returns its path.

    The SavedModel is written beside it first and renamed into place, so a server
    watching export_base never sees a half-written version.
    """
    version = next_version(export_base)
    path = pathlib.Path(export_base) / str(version)
    staging = pathlib.Path(export_base) / f".staging-{version}"
    tf.saved_model.save(module, str(staging), signatures=module.signatures())
    _write_speakers(module.responder.speaker_names, staging)
    staging.rename(path)
    return path


def _write_speakers(speakers, version_dir):
    """assets.extra/speakers.txt: the speakers the model answers as, one per line.

    TensorFlow Serving ignores assets.extra; it is for tools that offer the
    speakers to people (the chat page of `mtask_tf.human_eval serve`).
    """
    extra = pathlib.Path(version_dir) / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "speakers.txt").write_text("".join(f"{s}\n" for s in speakers), encoding="utf-8")


def served_models(export_root):
    """{name: base path} of every directory under export_root holding a version."""
    root = pathlib.Path(export_root)
    models = {}
    for base in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if any((v / "saved_model.pb").is_file() for v in base.iterdir() if v.name.isdigit()):
            models[base.name] = base
    return models


def model_config(models, base_path_prefix=None):
    """TensorFlow Serving's ModelServerConfig text for {name: base path}.

    `base_path_prefix` replaces each base path's parent, e.g. "/models" for the
    `tensorflow/serving` Docker image with export/ mounted there.
    """
    lines = ["model_config_list {"]
    for name, base in models.items():
        path = (
            f"{base_path_prefix.rstrip('/')}/{base.name}"
            if base_path_prefix
            else str(pathlib.Path(base).resolve())
        )
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{path}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    return "\n".join(lines + ["}"]) + "\n"
