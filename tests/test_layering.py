"""The package's layers: decoding, evaluation and export do not depend on training."""

import json

from tests.conftest import run_module


def _imported(prefix, *modules):
    """The modules under `prefix` that importing `modules` loads, in a new program.

    The program runs through the test zygote: TensorFlow is imported already, but no
    mtask_tf module other than the package itself (checked here), as in a fresh
    interpreter.
    """
    result = run_module("tests.imports", prefix, *modules, check=True)
    out = json.loads(result.stdout.splitlines()[-1])
    assert set(out["before"]) <= {"mtask_tf"}, out["before"]
    return out["after"]


def test_decoding_evaluation_and_export_import_nothing_from_training():
    modules = (
        "mtask_tf.decoding.responder",
        "mtask_tf.decoding.mert",
        "mtask_tf.evaluation.systems",
        "mtask_tf.evaluation.report",
        "mtask_tf.export.serving_module",
        "mtask_tf.model.model_dir",
    )
    assert _imported("mtask_tf.training", *modules) == []


def test_training_imports_nothing_from_decoding():
    modules = ("mtask_tf.training.experiment", "mtask_tf.training.enrollment")
    assert _imported("mtask_tf.decoding", *modules) == []
