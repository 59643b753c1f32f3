"""The package's layers.

The libraries (data, model, training, decoding, evaluation, export) compute; the
workflows (mtask_tf/workflows/) and the command-line modules drive them. Within
the libraries: decoding, evaluation and export do not depend on training,
training not on decoding, and evaluation not on decoding (decoding's MERT scores
BLEU with evaluation's metrics: one direction only). `serving/` imports nothing
of mtask_tf.
"""

import json
import pathlib

import pytest

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
        "mtask_tf.evaluation.responses",
        "mtask_tf.evaluation.report",
        "mtask_tf.export.serving_module",
        "mtask_tf.model.model_dir",
    )
    assert _imported("mtask_tf.training", *modules) == []


def test_training_imports_nothing_from_decoding():
    modules = ("mtask_tf.training.experiment", "mtask_tf.training.enrollment")
    assert _imported("mtask_tf.decoding", *modules) == []


_LIBRARIES = ("data", "model", "training", "decoding", "evaluation", "export")


def _library_modules(*packages):
    root = pathlib.Path(__file__).parent.parent / "mtask_tf"
    return [
        f"mtask_tf.{package}.{path.stem}"
        for package in packages
        for path in sorted((root / package).glob("*.py"))
        if path.stem not in ("__init__", "__main__")
    ]


def test_evaluation_imports_nothing_from_decoding():
    assert _imported("mtask_tf.decoding", *_library_modules("evaluation")) == []


def test_libraries_import_no_workflow_and_no_command():
    modules = _library_modules(*_LIBRARIES)
    assert len(modules) > 40
    imported = _imported("mtask_tf", *modules)
    # Beside the libraries, only the two modules everything shares.
    allowed = {"mtask_tf", "mtask_tf.errors", "mtask_tf.progress"}
    library = lambda name: name in allowed or name.split(".")[1] in _LIBRARIES
    assert [name for name in imported if not library(name)] == []


@pytest.mark.parametrize("program", ["serving.server", "serving.client"])
def test_the_servers_package_imports_nothing_of_the_toolkit(program):
    # Each program alone (both define --model_name), in a fresh interpreter: the
    # test zygote has imported the toolkit's package already.
    modules = [f"serving.{path.stem}" for path in pathlib.Path("serving").glob("*.py")]
    modules = [
        m for m in modules if m not in ("serving.server", "serving.client", "serving.__init__")
    ]
    result = run_module("tests.imports", "mtask_tf", program, *modules, fresh=True, check=True)
    assert json.loads(result.stdout.splitlines()[-1])["after"] == []
