"""The export's directory layout: versions, the models found under a root, the config file."""

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from mtask_tf.export import serving_module


def _version(base, number):
    (base / str(number)).mkdir(parents=True)
    (base / str(number) / "saved_model.pb").write_bytes(b"")


def test_next_version_follows_the_highest_integer_directory(tmp_path):
    assert serving_module.next_version(tmp_path / "none") == 1
    for number in (1, 2, 10):
        _version(tmp_path / "m", number)
    (tmp_path / "m" / ".staging-11").mkdir()
    (tmp_path / "m" / "notes").mkdir()
    assert serving_module.next_version(tmp_path / "m") == 11


def test_served_models_and_their_config_for_the_stock_server(tmp_path):
    _version(tmp_path / "baseline", 1)
    _version(tmp_path / "mtask_s_HAMLET", 3)
    (tmp_path / "empty" / "1").mkdir(parents=True)  # no saved_model.pb: not served
    models = serving_module.served_models(tmp_path)
    assert list(models) == ["baseline", "mtask_s_HAMLET"]
    parsed = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(serving_module.model_config(models, "/models/"), parsed)
    configs = parsed.model_config_list.config
    assert [(c.name, c.base_path, c.model_platform) for c in configs] == [
        ("baseline", "/models/baseline", "tensorflow"),
        ("mtask_s_HAMLET", "/models/mtask_s_HAMLET", "tensorflow"),
    ]
    local = serving_module.model_config(models)
    assert f'base_path: "{(tmp_path / "baseline").resolve()}"' in local
    assert serving_module.served_models(tmp_path / "missing") == {}
