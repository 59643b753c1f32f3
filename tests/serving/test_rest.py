"""REST API request and response JSON, in-process (no sockets)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from serving import config
from serving import errors
from serving import models
from serving import rest
from tests.serving import toy_models


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "toy"
    toy_models.save_toy_model(base, 3, "v3")
    repository = models.ModelRepository(
        [config.ModelSource("toy", str(base))], models.Options(), log=lambda line: None
    )
    repository.refresh(raise_errors=True)
    yield rest.RestApi(repository)
    repository.close()


def _post(api, path, body):
    return api.handle("POST", path, json.dumps(body).encode())


def test_row_format_with_several_outputs_gives_one_object_per_instance(api):
    instances = [
        {"context": "", "message": "m", "speaker": "IAGO", "response": "a b"},
        {"context": "", "message": "m", "speaker": "HAMLET", "response": "abc"},
    ]
    status, body = _post(
        api, "/v1/models/toy:predict", {"signature_name": "score", "instances": instances}
    )
    assert (status, body) == (
        200,
        {"predictions": [{"log_prob": -3.0, "num_tokens": 2}, {"log_prob": -3.0, "num_tokens": 1}]},
    )


def test_binary_input_and_query_string(api):
    assert _post(
        api,
        "/v1/models/toy/versions/3:predict?x=1",
        {"signature_name": "length", "inputs": {"message": [{"b64": "4pyT"}]}},
    ) == (200, {"outputs": [1]})


@pytest.mark.parametrize(
    "body, error",
    [
        ({"signature_name": 3, "instances": []}, "'signature_name' key must be a string value."),
        ({"instances": {"message": "x"}}, "'instances' must be a list"),
        ({"instances": ["x"]}, "each instance must be an object naming them"),
        ({"instances": [{"message": "x"}, {"speaker": "y"}]}, "every instance must name the same"),
        ({"signature_name": "length", "inputs": [{"b64": "%%%"}]}, "bad base64"),
        ([1, 2], "the request body must be a JSON object"),
    ],
)
def test_malformed_request_bodies(api, body, error):
    status, answer = _post(api, "/v1/models/toy:predict", body)
    assert status == 400 and error in answer["error"], answer


def test_status_codes_map_like_tensorflow_serving():
    assert rest.HTTP_STATUS[errors.invalid("x").code] == 400
    assert rest.HTTP_STATUS[errors.not_found("x").code] == 404
    assert {code.name: rest.HTTP_STATUS[code] for code in rest.HTTP_STATUS}[
        "RESOURCE_EXHAUSTED"
    ] == 429


def test_output_values():
    assert rest._to_json_value("scores", np.array([0.1, -2.5], np.float32)) == [0.1, -2.5]
    assert rest._to_json_value("text", np.array([[b"caf\xc3\xa9", b"\xff"]], object)) == [
        ["café", {"b64": "/w=="}]
    ]
    assert rest._to_json_value("image_bytes", np.array([b"ab"], object)) == [{"b64": "YWI="}]
    assert rest._to_json_value("n", np.array([[1, 2]], np.int64)) == [[1, 2]]


@pytest.mark.parametrize(
    "value, dtype, expected",
    [
        ([1, 2.5], tf.float32, [1.0, 2.5]),
        ([[True], [False]], tf.bool, [[True], [False]]),
        ([], tf.int32, []),
    ],
)
def test_input_values(value, dtype, expected):
    array = rest._to_array("x", value, dtype)
    assert array.dtype == dtype.as_numpy_dtype and array.tolist() == expected


@pytest.mark.parametrize(
    "value, dtype, error",
    [
        ([1.5], tf.int32, "must hold int32 values, got 1.5"),
        ([True], tf.int64, "must hold int64 values, got true"),
        ([1], tf.bool, "must hold bool values, got 1"),
        ([2**40], tf.int32, "input 'x'"),
        ([[1], [2, 3]], tf.float32, "ragged"),
        (["a"], tf.complex64, "use gRPC"),
    ],
)
def test_bad_input_values(value, dtype, error):
    with pytest.raises(errors.ServingError, match=error.replace("(", r"\(")):
        rest._to_array("x", value, dtype)
