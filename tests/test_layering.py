"""The package's layers: decoding, evaluation and export do not depend on training."""

import subprocess
import sys

from tests.conftest import REPO


def test_decoding_evaluation_and_export_import_nothing_from_training():
    code = (
        "import sys; import mtask_tf.decoding.responder, mtask_tf.decoding.mert, "
        "mtask_tf.evaluation.systems, mtask_tf.evaluation.report, "
        "mtask_tf.export.serving_module, mtask_tf.model.model_dir; "
        "print(sorted(m for m in sys.modules if m.startswith('mtask_tf.training')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_training_imports_nothing_from_decoding():
    code = (
        "import sys; import mtask_tf.training.experiment, mtask_tf.training.enrollment; "
        "print(sorted(m for m in sys.modules if m.startswith('mtask_tf.decoding')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
