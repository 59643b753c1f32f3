"""Loading, version switching, signature checks and config files, in-process."""

import os
import pathlib
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving import config
from serving import errors
from serving import models
from serving import signatures
from tests.serving import toy_models

OPTIONS = models.Options(limits=signatures.Limits(max_batch_size=4, max_input_chars=10))


def _text(*values):
    return np.array([v.encode() if isinstance(v, str) else v for v in values], dtype=object)


def _turn(message="hi", speaker="IAGO", context=""):
    return {"context": _text(context), "message": _text(message), "speaker": _text(speaker)}


@pytest.fixture(scope="module")
def toy_v1(tmp_path_factory):
    """BASE/1: version 1 of the toy model, saved once for the module."""
    base = tmp_path_factory.mktemp("saved") / "toy"
    toy_models.save_toy_model(base, 1, "v1")
    return base


def _repository(base):
    repository = models.ModelRepository(
        [config.ModelSource("toy", str(base))], OPTIONS, log=lambda line: None
    )
    repository.refresh(raise_errors=True)
    return repository


@pytest.fixture(scope="module")
def served(toy_v1):
    """`toy` version 1, shared by the tests that only send requests."""
    repository = _repository(toy_v1)
    yield repository
    repository.close()


@pytest.fixture()
def repository(toy_v1, tmp_path):
    """`toy` version 1 from tmp_path/toy (a copy), for a test that adds versions there."""
    shutil.copytree(toy_v1, tmp_path / "toy")
    repository = _repository(tmp_path / "toy")
    yield repository
    repository.close()


def test_find_versions_takes_integer_directories_with_a_saved_model(tmp_path):
    for name in ("3", "12", "x", "7"):
        os.makedirs(tmp_path / name)
    for name in ("3", "12", "x"):
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    assert models.find_versions(str(tmp_path)) == [3, 12]


def test_predict_runs_the_signature(served):
    servable = served.get("toy")
    key, outputs = servable.predict("", _turn())
    assert key == "serving_default"
    assert outputs["responses"].tolist() == [[b"v1 IAGO: hi", b"v1 IAGO: "]]
    key, outputs = servable.predict(
        "score", {**_turn(), "response": _text("a b")}, output_filter=["num_tokens"]
    )
    assert key == "score"
    assert (list(outputs), outputs["num_tokens"].tolist()) == (["num_tokens"], [2])


@pytest.mark.parametrize(
    "inputs, code, message",
    [
        (
            {"message": _text("a"), "speaker": _text("IAGO")},
            "INVALID_ARGUMENT",
            "missing input(s): context. Signature 'generate' takes inputs: context, "
            "message, speaker",
        ),
        (
            {**_turn(), "message": np.array([1], np.int32)},
            "INVALID_ARGUMENT",
            "input 'message' must be string, got int32",
        ),
        (
            {**_turn(), "message": _text("a", "b")},
            "INVALID_ARGUMENT",
            "all inputs must have the same batch size (first dimension): context has 1, "
            "message has 2, speaker has 1",
        ),
        (
            {name: _text(*["a"] * 5) for name in ("context", "message", "speaker")},
            "INVALID_ARGUMENT",
            "Task size 5 is larger than maximum input batch size 4",
        ),
        (
            _turn(message="0123456789x"),
            "INVALID_ARGUMENT",
            "input 'message'[0] has 11 characters, more than this server's limit of 10",
        ),
        (
            _turn(message=b"\xc3("),
            "INVALID_ARGUMENT",
            "input 'message'[0] is not valid UTF-8 (byte 0xc3 at offset 0)",
        ),
        (_turn(speaker="BOB"), "INVALID_ARGUMENT", "assertion failed: [unknown speaker:] [BOB]"),
    ],
)
def test_bad_inputs_raise_serving_errors(served, inputs, code, message):
    with pytest.raises(errors.ServingError) as raised:
        served.get("toy").predict("generate", inputs)
    assert raised.value.code.name == code
    assert raised.value.message.startswith(message), raised.value.message


def test_lookups_that_find_nothing_get_the_stock_servers_codes(served):
    for name, version, label, code in [
        ("nope", None, "", grpc.StatusCode.NOT_FOUND),
        ("toy", 2, "", grpc.StatusCode.NOT_FOUND),
        ("toy", None, "stable", grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(errors.ServingError) as raised:
            served.get(name, version, label)
        assert raised.value.code == code
    with pytest.raises(errors.ServingError, match='signature key "nope" not found') as raised:
        served.get("toy").predict("nope", _turn())
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_newer_version_replaces_the_served_one(repository, tmp_path):
    old = repository.get("toy")
    toy_models.save_toy_model(tmp_path / "toy", 2, "v2")
    repository.refresh()
    assert repository.get("toy").version == 2
    assert repository.status("toy") == [(1, "END", None), (2, "AVAILABLE", None)]
    # A request that took the old version before the switch still runs.
    assert old.predict("generate", _turn())[1]["responses"][0, 0] == b"v1 IAGO: hi"


def test_a_broken_new_version_leaves_the_old_one_serving(repository, tmp_path):
    os.makedirs(tmp_path / "toy" / "5")
    (tmp_path / "toy" / "5" / "saved_model.pb").write_bytes(b"not a SavedModel")
    repository.refresh()
    repository.refresh()  # not retried until saved_model.pb changes
    assert repository.get("toy").version == 1
    status = repository.status("toy")
    assert [(version, state) for version, state, _ in status] == [(1, "AVAILABLE"), (5, "END")]
    assert "loading version 5" in status[1][2][1]
    os.utime(tmp_path / "toy" / "5" / "saved_model.pb", (1, 1))  # "rewritten": retried
    with pytest.raises(RuntimeError, match="loading version 5"):
        repository.refresh(raise_errors=True)


def _write_warmup(version_dir, speaker):
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "generate"
    for name, value in {"context": "", "message": "hi", "speaker": speaker}.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto([value]))
    log = prediction_log_pb2.PredictionLog(predict_log={"request": request})
    os.makedirs(version_dir / "assets.extra")
    with tf.io.TFRecordWriter(str(version_dir / models.WARMUP_FILE)) as writer:
        writer.write(log.SerializeToString())


def test_warm_up_requests_run_before_a_version_is_served(repository, tmp_path):
    lines = []
    repository._log = lines.append
    _write_warmup(pathlib.Path(toy_models.save_toy_model(tmp_path / "toy", 2, "v2")), "IAGO")
    repository.refresh(raise_errors=True)
    assert repository.get("toy").version == 2
    assert "replayed 1 warm-up requests" in lines[0]
    _write_warmup(pathlib.Path(toy_models.save_toy_model(tmp_path / "toy", 3, "v3")), "BOB")
    with pytest.raises(RuntimeError, match=r"warm-up request 1 failed: .*\[BOB\]"):
        repository.refresh(raise_errors=True)
    assert repository.get("toy").version == 2


def test_a_signature_without_batch_dimension_runs_unbatched(tmp_path):
    module = tf.Module()
    module.shout = tf.function(
        lambda text: {"loud": tf.strings.upper(text)},
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"shout": module.shout})
    servable = models.Servable("m", 1, str(tmp_path / "1"), OPTIONS)
    assert not servable.signatures["shout"].batchable
    assert servable.predict("shout", {"text": np.array(b"hey", dtype=object)})[1]["loud"] == b"HEY"
    servable.close()


def test_clean_message_keeps_what_the_graph_says():
    message = (
        "Graph execution error:\n\nDetected at node check/Assert defined at (most "
        'recent call last):\n  File "/x/export.py", line 10, in generate\n'
        "    tf.debugging.Assert(known, [speaker])\n\n"
        "assertion failed: [unknown speaker] [BOB]\n"
        "\t [[{{node check/Assert}}]] [Op:__inference_signature_wrapper_99]"
    )
    assert errors.clean_message(message) == "assertion failed: [unknown speaker] [BOB]"


CONFIG = """
model_config_list {
  config { name: "mtask" base_path: "export/mtask" model_platform: "tensorflow" }
  config { name: "reverse" base_path: "/abs/reverse" }
}
"""


def test_read_model_config(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    assert config.read_model_config(str(path)) == [
        config.ModelSource("mtask", "export/mtask"),
        config.ModelSource("reverse", "/abs/reverse"),
    ]


@pytest.mark.parametrize(
    "text, error",
    [
        ('model_config_list { config { name: "a" base_path: }', "not a ModelServerConfig"),
        ("", "no models"),
        ('model_config_list { config { name: "a" } }', "needs both name and base_path"),
        (
            'model_config_list { config { name: "a" base_path: "x" model_platform: "onnx" } }',
            "model_platform 'onnx' is not served here",
        ),
        (
            'model_config_list { config { name: "a" base_path: "x" model_version_policy '
            "{ all {} } } }",
            "only the default version policy",
        ),
        (
            'model_config_list { config { name: "a" base_path: "x" version_labels '
            '{ key: "stable" value: 1 } } }',
            "version_labels are not supported",
        ),
        (
            'model_config_list { config { name: "a" base_path: "x" } '
            'config { name: "a" base_path: "y" } }',
            "the name 'a' is used twice",
        ),
    ],
)
def test_bad_model_config_says_what_is_wrong(tmp_path, text, error):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=error):
        config.read_model_config(str(path))
