"""`python -m serving.server` end to end: a subprocess on loopback ports, official stubs."""

import base64
import concurrent.futures
import os
import signal
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc

from tests.conftest import REPO
from tests.conftest import run_module
from tests.serving import toy_models
from tests.serving.conftest import Server
from tests.serving.conftest import outputs
from tests.serving.conftest import turn

pytestmark = pytest.mark.slow

MAX_BATCH = 8
MAX_CHARS = 50


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    """Serves `toy` and `other` from a model config file (`other` by a relative path)."""
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{ name: "toy" base_path: "{export_dir / "toy"}" model_platform: "tensorflow" }}
  config {{ name: "other" base_path: "{os.path.relpath(export_dir / "other", REPO)}"
           model_platform: "tensorflow" }}
}}
""")
    server = Server(
        config.parent / "server.log",
        f"--model_config_file={config}",
        f"--max_batch_size={MAX_BATCH}",
        "--batch_timeout_micros=30000",
        f"--max_input_chars={MAX_CHARS}",
        "--file_system_poll_wait_seconds=1",
    )
    yield server.wait_ready()
    assert server.stop() == 0, server.log()


def _responses(response):
    return outputs(response)["responses"].tolist()


def test_start_up_lines_name_models_versions_and_ports(server):
    log = server.log()
    assert "model 'toy': serving version 1 from " in log
    assert "model 'other': serving version 1 from " in log
    assert "(signatures: generate, length, reverse_score, score, serving_default)" in log
    assert f"gRPC API on 127.0.0.1:{server.port}" in log
    assert f"REST API on http://127.0.0.1:{server.rest_port}/v1/models/" in log


def test_grpc_generate(server):
    response = server.predict("toy", turn(), signature="generate")
    assert (
        response.model_spec.name,
        response.model_spec.version.value,
        response.model_spec.signature_name,
    ) == ("toy", 1, "generate")
    assert _responses(response) == [[b"v1 HAMLET: nay, answer me", b"v1 HAMLET: who's there?"]]
    # Typed value fields, as tensorflow_model_server answers, not tensor_content.
    assert list(response.outputs["scores"].float_val) == [-25.0, -23.0]
    assert list(response.outputs["lengths"].int_val) == [25, 23]
    assert outputs(response)["forward_log_prob"].shape == (1, 2)


def test_grpc_default_signature_and_output_filter(server):
    response = server.predict("toy", turn(speaker="IAGO"))
    assert response.model_spec.signature_name == "serving_default"
    assert _responses(response)[0][0] == b"v1 IAGO: nay, answer me"
    request_outputs = server.stub.Predict(_with_filter(server, ["scores"]), timeout=20).outputs
    assert list(request_outputs) == ["scores"]


def _with_filter(server, names):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    for name, value in turn().items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    request.output_filter.extend(names)
    return request


def test_grpc_score_and_reverse_score(server):
    scored = outputs(
        server.predict("toy", {**turn(), "response": ["to be or not"]}, signature="score")
    )
    assert scored["log_prob"].tolist() == [-12.0] and scored["num_tokens"].tolist() == [4]
    reverse = outputs(
        server.predict("toy", {"message": ["a b c"], "response": ["x"]}, signature="reverse_score")
    )
    assert reverse["log_prob"].tolist() == [-5.0] and reverse["num_tokens"].tolist() == [3]


def test_grpc_metadata_and_status(server):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = server.stub.GetModelMetadata(request, timeout=20)
    assert (response.model_spec.name, response.model_spec.version.value) == ("toy", 1)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    signature_defs = signature_map.signature_def
    assert {"generate", "score", "reverse_score", "serving_default"} <= set(signature_defs)
    assert set(signature_defs["generate"].inputs) == {"context", "message", "speaker"}
    assert signature_defs["score"].method_name == "tensorflow/serving/predict"

    status_stub = model_service_pb2_grpc.ModelServiceStub(server.channel)
    request = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "toy"})
    [version] = status_stub.GetModelStatus(request, timeout=20).model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as raised:
        status_stub.GetModelStatus(request, timeout=20)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_rest_row_and_columnar_predict(server):
    status, body = server.rest(
        "/v1/models/toy:predict",
        {
            "instances": [
                {"context": "a", "message": "hello", "speaker": "IAGO"},
                {"context": "b", "message": "bye", "speaker": "HAMLET"},
            ]
        },
    )
    assert status == 200, body
    assert [row["responses"] for row in body["predictions"]] == [
        ["v1 IAGO: hello", "v1 IAGO: a"],
        ["v1 HAMLET: bye", "v1 HAMLET: b"],
    ]
    assert body["predictions"][0]["scores"] == [-14.0, -10.0]

    status, body = server.rest(
        "/v1/models/toy/versions/1:predict",
        {
            "signature_name": "score",
            "inputs": {
                "context": ["a"],
                "message": ["hi"],
                "speaker": ["IAGO"],
                "response": ["x y"],
            },
        },
    )
    assert (status, body) == (200, {"outputs": {"log_prob": [-3.0], "num_tokens": [2]}})


def test_rest_single_input_and_output_are_bare_values(server):
    # 50 characters of 2 UTF-8 bytes each: the limit counts characters, not bytes.
    long_text = "é" * MAX_CHARS
    assert server.rest(
        "/v1/models/toy:predict",
        {
            "signature_name": "length",
            "instances": ["héllo", long_text, {"b64": base64.b64encode(b"abc").decode()}],
        },
    ) == (200, {"predictions": [5, MAX_CHARS, 3]})
    assert server.rest(
        "/v1/models/toy:predict", {"signature_name": "length", "inputs": ["ab"]}
    ) == (200, {"outputs": [2]})


def test_rest_status_and_metadata(server):
    expected = {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert server.rest("/v1/models/toy") == (200, expected)
    assert server.rest("/v1/models/toy/versions/1") == (200, expected)
    status, body = server.rest("/v1/models/toy/metadata")
    assert status == 200, body
    assert body["model_spec"]["name"] == "toy" and body["model_spec"]["version"] == "1"
    generate = body["metadata"]["signature_def"]["signature_def"]["generate"]
    assert set(generate["inputs"]) == {"context", "message", "speaker"}
    assert generate["outputs"]["scores"]["dtype"] == "DT_FLOAT"


def test_32_concurrent_clients_are_batched(server):
    clients = 32
    start = threading.Barrier(clients)

    def call(i):
        start.wait()
        speaker = toy_models.SPEAKERS[i % 2]
        response = server.predict("toy", turn(message=f"message {i}", speaker=speaker))
        result = outputs(response)
        return result["responses"][0, 0].decode(), int(result["batch_size"][0])

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(call, range(clients)))
    # Each client got the rows of its own request back out of the merged batch.
    assert [text for text, _ in results] == [
        f"v1 {toy_models.SPEAKERS[i % 2]}: message {i}" for i in range(clients)
    ]
    batch_sizes = [size for _, size in results]
    assert max(batch_sizes) > 1, batch_sizes
    assert max(batch_sizes) <= MAX_BATCH, batch_sizes


def test_a_graph_error_fails_only_its_own_request_in_a_batch(server):
    clients = 6
    start = threading.Barrier(clients)

    def call(i):
        start.wait()
        try:
            server.predict("toy", turn(message="" if i == 3 else f"m{i}"))
            return "ok"
        except grpc.RpcError as error:
            return error.code()

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(call, range(clients)))
    assert results == ["ok"] * 3 + [grpc.StatusCode.INVALID_ARGUMENT] + ["ok"] * 2


INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
BAD_GRPC_REQUESTS = {
    "missing input": (
        dict(inputs={"context": ["a"], "message": ["b"]}),
        INVALID,
        "missing input(s): speaker",
    ),
    "unknown input": (dict(inputs={**turn(), "mood": ["glum"]}), INVALID, "unknown input(s): mood"),
    "wrong dtype": (
        dict(inputs={**turn(), "message": np.array([1.5], np.float32)}),
        INVALID,
        "input 'message' must be string, got float32",
    ),
    "rank 2": (
        dict(inputs={**turn(), "message": [["b"]]}),
        INVALID,
        "input 'message' must have shape [?] (rank 1), got [1, 1]",
    ),
    "unequal batch sizes": (
        dict(inputs={**turn(), "message": ["b", "c"]}),
        INVALID,
        "message has 2",
    ),
    "unknown model": (
        dict(model="nope"),
        NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ),
    "unknown version": (dict(version=9), NOT_FOUND, "Specific(toy, 9)"),
    "unknown signature": (
        dict(signature="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found',
    ),
    "version label": (
        dict(version_label="stable"),
        INVALID,
        "Unrecognized servable version label: stable",
    ),
    "batch too large": (
        dict(inputs={name: value * (MAX_BATCH + 1) for name, value in turn().items()}),
        INVALID,
        f"Task size {MAX_BATCH + 1} is larger than maximum input batch size {MAX_BATCH}",
    ),
    "invalid UTF-8": (
        dict(inputs={**turn(), "message": [b"caf\xe9"]}),
        INVALID,
        "input 'message'[0] is not valid UTF-8 (byte 0xe9 at offset 3)",
    ),
    "input too long": (
        dict(inputs=turn(message="x" * (MAX_CHARS + 1))),
        INVALID,
        f"has {MAX_CHARS + 1} characters, more than this server's limit of {MAX_CHARS}",
    ),
    "graph: empty message": (
        dict(inputs=turn(message="")),
        INVALID,
        "assertion failed: [empty message]",
    ),
    "graph: unknown speaker": (
        dict(inputs=turn(speaker="BOB")),
        INVALID,
        "assertion failed: [unknown speaker:] [BOB]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_GRPC_REQUESTS))
def test_bad_grpc_request_gets_its_status_and_the_server_keeps_serving(server, case):
    request, code, details = BAD_GRPC_REQUESTS[case]
    arguments = {"model": "toy", "inputs": turn(), **request}
    with pytest.raises(grpc.RpcError) as raised:
        server.predict(arguments.pop("model"), arguments.pop("inputs"), **arguments)
    assert raised.value.code() == code, raised.value.details()
    assert details in raised.value.details()
    for noise in ("[[{{node", "Op:__inference", "Traceback", 'File "'):
        assert noise not in raised.value.details()
    assert _responses(server.predict("toy", turn()))[0][0] == b"v1 HAMLET: nay, answer me"


def test_bad_metadata_request(server):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "toy"
    with pytest.raises(grpc.RpcError) as raised:
        server.stub.GetModelMetadata(request, timeout=20)
    assert raised.value.code() == INVALID


GOOD_ROW = {"context": "a", "message": "b", "speaker": "IAGO"}
BAD_REST_REQUESTS = {
    "missing input": (
        "toy:predict",
        {"instances": [{"context": "a", "message": "b"}]},
        400,
        "missing input(s): speaker",
    ),
    "unknown input": (
        "toy:predict",
        {"instances": [{**GOOD_ROW, "mood": "glum"}]},
        400,
        "unknown input(s): mood",
    ),
    "wrong type": (
        "toy:predict",
        {"instances": [{**GOOD_ROW, "message": 1.5}]},
        400,
        "input 'message' must hold strings, got 1.5",
    ),
    "rank 2": (
        "toy:predict",
        {"inputs": {"context": ["a"], "message": [["b"]], "speaker": ["IAGO"]}},
        400,
        "must have shape [?]",
    ),
    "ragged": (
        "toy:predict",
        {"inputs": {"context": [["a"], []], "message": ["b", "c"], "speaker": ["IAGO", "IAGO"]}},
        400,
        "ragged",
    ),
    "unequal batch sizes": (
        "toy:predict",
        {"inputs": {"context": ["a"], "message": ["b", "c"], "speaker": ["IAGO"]}},
        400,
        "same batch size",
    ),
    "unknown model": ("nope:predict", {"instances": [GOOD_ROW]}, 404, "Latest(nope)"),
    "unknown version": (
        "toy/versions/9:predict",
        {"instances": [GOOD_ROW]},
        404,
        "Specific(toy, 9)",
    ),
    "unknown signature": (
        "toy:predict",
        {"signature_name": "nope", "instances": [GOOD_ROW]},
        400,
        '"nope" not found',
    ),
    "version label": (
        "toy/labels/stable:predict",
        {"instances": [GOOD_ROW]},
        400,
        "version label: stable",
    ),
    "batch too large": (
        "toy:predict",
        {"instances": [GOOD_ROW] * (MAX_BATCH + 1)},
        400,
        "larger than maximum input batch size",
    ),
    "invalid UTF-8": (
        "toy:predict",
        {"instances": [{**GOOD_ROW, "message": {"b64": base64.b64encode(b"caf\xe9").decode()}}]},
        400,
        "not valid UTF-8",
    ),
    "lone surrogate": (
        "toy:predict",
        b'{"instances": [{"context": "a", "message": "\\udcff", "speaker": "IAGO"}]}',
        400,
        "not valid UTF-8",
    ),
    "input too long": (
        "toy:predict",
        {"instances": [{**GOOD_ROW, "message": "x" * 51}]},
        400,
        "more than this server's limit of 50",
    ),
    "graph error": (
        "toy:predict",
        {"instances": [{**GOOD_ROW, "message": ""}]},
        400,
        "assertion failed: [empty message]",
    ),
    "not JSON": ("toy:predict", b"{instances", 400, "JSON Parse error"),
    "instances and inputs": (
        "toy:predict",
        {"instances": [GOOD_ROW], "inputs": {}},
        400,
        "not both",
    ),
    "classify": ("toy:classify", {"examples": []}, 501, "use :predict"),
    "malformed path": ("toy/wat:predict", {"instances": []}, 400, "Malformed request"),
}


@pytest.mark.parametrize("case", sorted(BAD_REST_REQUESTS))
def test_bad_rest_request_gets_its_status_and_the_server_keeps_serving(server, case):
    path, body, status, error = BAD_REST_REQUESTS[case]
    got_status, got = server.rest(f"/v1/models/{path}", body)
    assert (got_status, list(got)) == (status, ["error"]), got
    assert error in got["error"]
    assert server.rest("/v1/models/toy:predict", {"instances": [GOOD_ROW]})[0] == 200


def test_rest_get_unknown_model_is_404(server):
    status, body = server.rest("/v1/models/nope")
    assert status == 404 and "Could not find any versions of model nope" in body["error"]


def test_both_configured_models_answer(server):
    assert _responses(server.predict("toy", turn()))[0][0].startswith(b"v1 ")
    assert _responses(server.predict("other", turn()))[0][0].startswith(b"o")


def test_new_version_is_served_after_the_poll_interval(server, export_dir):
    toy_models.save_toy_model(export_dir / "other", 2, "o2")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = server.predict("other", turn())
        if response.model_spec.version.value == 2:
            break
        time.sleep(0.2)
    assert response.model_spec.version.value == 2, server.log()
    assert _responses(response)[0][0] == b"o2 HAMLET: nay, answer me"
    assert "model 'other': unloaded version 1" in server.log()
    status, body = server.rest("/v1/models/other")
    assert [(v["version"], v["state"]) for v in body["model_version_status"]] == [
        ("1", "END"),
        ("2", "AVAILABLE"),
    ]
    with pytest.raises(grpc.RpcError) as raised:
        server.predict("other", turn(), version=1)
    assert raised.value.code() == NOT_FOUND
    assert _responses(server.predict("toy", turn()))[0][0].startswith(b"v1 ")


def test_client_prints_responses_and_reports_errors(server):
    address = f"--server=127.0.0.1:{server.port}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        generated, missing_model = pool.map(
            lambda args: run_module("serving.client", address, *args, timeout=120),
            [
                ["--model_name=toy", "--speaker=IAGO", "--context=hi", "--message=who are you"],
                ["--model_name=nope", "--speaker=IAGO", "--message=x"],
            ],
        )
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.splitlines() == [
        "model toy version 1, signature generate",
        "  1. v1 IAGO: who are you    (scores -20.0000  forward_log_prob -40.0000  "
        "reverse_log_prob -10.0000  lengths 20)",
        "  2. v1 IAGO: hi    (scores -11.0000  forward_log_prob -22.0000  "
        "reverse_log_prob -5.5000  lengths 11)",
    ]
    assert missing_model.returncode == 1
    assert (
        f"error: 127.0.0.1:{server.port}: NOT_FOUND: Servable not found for request: Latest(nope)"
    ) in missing_model.stderr


def test_graceful_shutdown_finishes_the_request_in_flight(export_dir, tmp_path):
    # A long batch timeout keeps a lone request waiting in the server for 2 s.
    server = Server(
        tmp_path / "server.log",
        f"--model_base_path={export_dir / 'toy'}",
        "--model_name=toy",
        "--batch_timeout_micros=2000000",
        "--shutdown_grace_seconds=20",
    ).wait_ready()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(server.predict, "toy", turn())
            time.sleep(0.7)
            assert not in_flight.done()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(grpc.RpcError) as refused:
                server.predict("toy", turn(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert _responses(in_flight.result(timeout=20))[0][0] == (b"v1 HAMLET: nay, answer me")
        assert server.process.wait(timeout=20) == 0, server.log()
        assert "SIGTERM: no new requests; finishing those in flight" in server.log()
        assert server.log().rstrip().endswith("stopped")
    finally:
        server.stop()


@pytest.mark.parametrize(
    "flags, error",
    [
        (
            ["--model_base_path=/no/such/dir"],
            "error: model 'default': base path /no/such/dir is not a directory",
        ),
        (
            ["--model_base_path=x", "--model_config_file=y"],
            "give either --model_config_file or --model_base_path, not both",
        ),
        (["--model_config_file=/no/such/file"], "error: cannot read the model config file"),
    ],
)
def test_start_up_errors_are_clear(flags, error):
    result = run_module("serving.server", *flags, timeout=60)
    assert result.returncode == 1
    assert error in result.stderr
