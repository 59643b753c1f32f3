"""The export's directory layout: versions, the models found under a root, the config file."""

import subprocess
import sys

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from mtask_tf.errors import UserError
from mtask_tf.export import layout
from tests.conftest import REPO


def _version(base, number):
    (base / str(number)).mkdir(parents=True)
    (base / str(number) / "saved_model.pb").write_bytes(b"")


def test_next_version_follows_the_highest_integer_directory(tmp_path):
    assert layout.next_version(tmp_path / "none") == 1
    for number in (1, 2, 10):
        _version(tmp_path / "m", number)
    (tmp_path / "m" / ".staging-11").mkdir()
    (tmp_path / "m" / "notes").mkdir()
    assert layout.next_version(tmp_path / "m") == 11


def test_served_models_and_their_config_for_the_stock_server(tmp_path):
    _version(tmp_path / "baseline", 1)
    _version(tmp_path / "mtask_s_HAMLET", 3)
    (tmp_path / "empty" / "1").mkdir(parents=True)  # no saved_model.pb: not served
    models = layout.served_models(tmp_path)
    assert list(models) == ["baseline", "mtask_s_HAMLET"]
    parsed = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(layout.model_config(models, "/models/"), parsed)
    configs = parsed.model_config_list.config
    assert [(c.name, c.base_path, c.model_platform) for c in configs] == [
        ("baseline", "/models/baseline", "tensorflow"),
        ("mtask_s_HAMLET", "/models/mtask_s_HAMLET", "tensorflow"),
    ]
    local = layout.model_config(models)
    assert f'base_path: "{(tmp_path / "baseline").resolve()}"' in local
    assert layout.served_models(tmp_path / "missing") == {}


def test_speakers_are_read_from_the_newest_version(tmp_path):
    base = tmp_path / "persona"
    with pytest.raises(UserError, match=r"persona: no exported version \(run mtask_tf.export"):
        layout.speakers(base)
    _version(base, 1)
    assert layout.speakers(base) == []  # a model without speakers
    layout.write_speakers(["old"], base / "1")
    _version(base, 2)
    layout.write_speakers(["HAMLET", "Lady Macbeth"], base / "2")
    (base / ".staging-3").mkdir()
    assert layout.speakers(base) == ["HAMLET", "Lady Macbeth"]


def test_finding_models_does_not_import_tensorflow():
    code = (
        "import sys; from mtask_tf.export import layout; "
        "layout.served_models('.'); print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "False\n"), result.stderr
