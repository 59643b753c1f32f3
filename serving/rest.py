"""TensorFlow Serving's REST API over a `ModelRepository`, on the standard library's server.

    POST /v1/models/NAME[/versions/N]:predict    {"instances": [...]} or {"inputs": {...}}
    GET  /v1/models/NAME[/versions/N]            GetModelStatus as JSON
    GET  /v1/models/NAME[/versions/N]/metadata   GetModelMetadata as JSON

Errors are `{"error": "..."}` with TensorFlow Serving's HTTP status for the code.
"""

import base64
import functools
import json
import logging
import re

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2

from serving import errors
from serving import grpc_service
from serving import signatures as signatures_lib

logger = logging.getLogger(__name__)

# TensorFlow Serving's ToHTTPStatusCode (model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_MAX_VERSION = 2**63 - 1  # versions are int64
# Deeper than any request needs (a tensor has at most 64 dimensions in numpy), and
# shallow enough that nothing recursing over the value runs out of stack.
_MAX_JSON_DEPTH = 64

_MODEL_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?::(?P<verb>[A-Za-z]+)|/(?P<resource>metadata))?"
)


class RestApi:
    """Answers REST requests: `handle(method, path, body) -> (http status, JSON value)`.

    Args:
      repository: the `models.ModelRepository` to serve.
    """

    def __init__(self, repository):
        self._repository = repository

    def handle(self, method, path, body):
        try:
            return 200, self._dispatch(method, path.split("?", 1)[0], body)
        except Exception as error:  # noqa: BLE001  every failure becomes {"error": ...}
            failure = errors.from_exception(error)
            if failure.code == grpc.StatusCode.INTERNAL:
                logger.exception("%s %s failed", method, path)
            return HTTP_STATUS.get(failure.code, 500), {"error": failure.message}

    def _dispatch(self, method, path, body):
        if not path.startswith("/v1/"):
            raise errors.not_found(f"Not found: {path}; the API is under /v1/models/")
        match = _MODEL_PATH.fullmatch(path)
        spec = match and (match["name"], _version(match["version"]), match["label"])
        if match and method == "POST" and match["verb"] == "predict":
            return self._predict(*spec, body)
        if match and method == "POST" and match["verb"] in ("classify", "regress"):
            raise errors.ServingError(
                grpc.StatusCode.UNIMPLEMENTED, f":{match['verb']} is not implemented; use :predict"
            )
        if match and method == "GET" and not match["verb"]:
            if match["resource"] == "metadata":
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    metadata_field=[grpc_service.SIGNATURE_DEF_FIELD]
                )
                _fill_spec(request.model_spec, *spec)
                return _to_json(grpc_service.model_metadata(self._repository, request))
            request = get_model_status_pb2.GetModelStatusRequest()
            _fill_spec(request.model_spec, *spec)
            return _to_json(grpc_service.model_status(self._repository, request))
        raise errors.invalid(f"Malformed request: {method} {path}")

    def _predict(self, name, version, label, body):
        request = _parse(body)
        signature_key = request.get("signature_name", "")
        if not isinstance(signature_key, str):
            raise errors.invalid("'signature_name' key must be a string value.")
        if ("instances" in request) == ("inputs" in request):
            raise errors.invalid(
                "the request needs either an 'instances' (row format) or an "
                "'inputs' (columnar format) key, not both or neither"
            )
        servable = self._repository.get(name, version, label)
        signature = servable.signature(signature_key)
        if "instances" in request:
            inputs = _rows_to_inputs(request["instances"], signature)
        else:
            inputs = _columns_to_inputs(request["inputs"], signature)
        _, outputs = servable.predict(signature.key, inputs)
        if "instances" in request:
            return {"predictions": _outputs_to_rows(outputs)}
        converted = {name: _to_json_value(name, value) for name, value in outputs.items()}
        return {"outputs": _only_value(converted) if len(converted) == 1 else converted}


def _version(text):
    if text is None:
        return None
    if len(text) > len(str(_MAX_VERSION)) or int(text) > _MAX_VERSION:
        # The stock server's answer to a version that is not an int64.
        raise errors.invalid(f"Failed to convert version: {text} to numeric.")
    return int(text)


def _fill_spec(model_spec, name, version, label):
    model_spec.name = name
    if version is not None:
        model_spec.version.value = version
    if label:
        model_spec.version_label = label


def _to_json(message):
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


def _parse(body):
    too_deep = errors.invalid(
        f"JSON Parse error: the body nests lists and objects more than {_MAX_JSON_DEPTH} "
        "levels deep"
    )
    try:
        request = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError) as error:
        raise errors.invalid(f"JSON Parse error: {error}") from None
    except RecursionError:
        raise too_deep from None
    if _too_deep(request):
        raise too_deep
    if not isinstance(request, dict):
        raise errors.invalid('the request body must be a JSON object, e.g. {"instances": [...]}')
    return request


def _too_deep(value):
    """Whether `value` nests more than _MAX_JSON_DEPTH levels; looks at containers only."""
    level = [value] if isinstance(value, (list, dict)) else []
    for _ in range(_MAX_JSON_DEPTH):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (list, dict))
        ]
        if not level:
            return False
    return True


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _only_value(mapping):
    return next(iter(mapping.values()))


def _rows_to_inputs(instances, signature):
    if not isinstance(instances, list):
        raise errors.invalid("'instances' must be a list, one element per example")
    if instances and all(isinstance(i, dict) and not _is_b64(i) for i in instances):
        names = set(instances[0])
        for index, instance in enumerate(instances):
            if set(instance) != names:
                raise errors.invalid(
                    f"instance {index} has inputs {sorted(instance)}, instance 0 has "
                    f"{sorted(names)}; every instance must name the same inputs"
                )
        columns = {name: [instance[name] for instance in instances] for name in names}
    elif len(signature.inputs) == 1:
        columns = {next(iter(signature.inputs)): instances}
    else:
        raise errors.invalid(
            f"signature {signature.key!r} has several inputs "
            f"({', '.join(sorted(signature.inputs))}): each instance must be an object "
            "naming them"
        )
    return _columns_to_arrays(columns, signature)


def _columns_to_inputs(inputs, signature):
    if isinstance(inputs, dict) and not _is_b64(inputs):
        return _columns_to_arrays(inputs, signature)
    if len(signature.inputs) != 1:
        raise errors.invalid(
            f"signature {signature.key!r} has several inputs: 'inputs' "
            "must be an object mapping their names to values"
        )
    return _columns_to_arrays({next(iter(signature.inputs)): inputs}, signature)


def _columns_to_arrays(columns, signature):
    # Unknown names are left to Signature.check, which lists them all at once.
    return {
        name: _to_array(
            name, value, signature.inputs[name].dtype if name in signature.inputs else None
        )
        for name, value in columns.items()
    }


def _flatten(name, value):
    """`(shape, flat list of leaves)` of a nested JSON list; raises if it is ragged."""
    if not isinstance(value, list):
        return (), [value]
    parts = [_flatten(name, item) for item in value]
    if any(part[0] != parts[0][0] for part in parts):
        raise errors.invalid(
            f"input {name!r} is ragged: lists at the same depth must have the same length"
        )
    inner = parts[0][0] if parts else ()
    return (len(value), *inner), [leaf for part in parts for leaf in part[1]]


def _text_bytes(name, value):
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError) as error:
            raise errors.invalid(f"input {name!r}: bad base64: {error}") from None
    if not isinstance(value, str):
        raise errors.invalid(f"input {name!r} must hold strings, got {json.dumps(value)}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid(
            f"input {name!r} is not valid UTF-8 text (it contains an unpaired surrogate escape)"
        ) from None


def _to_array(name, value, dtype):
    shape, leaves = _flatten(name, value)
    if dtype is None:
        return np.zeros(shape)  # an unknown input; Signature.check reports it
    if dtype == tf.string:
        array = np.empty(len(leaves), dtype=object)
        array[:] = [_text_bytes(name, leaf) for leaf in leaves]
        return array.reshape(shape)
    if dtype == tf.bool:
        wrong = [leaf for leaf in leaves if not isinstance(leaf, bool)]
    elif dtype.is_integer:
        wrong = [leaf for leaf in leaves if isinstance(leaf, bool) or not isinstance(leaf, int)]
    elif dtype.is_floating:
        wrong = [
            leaf for leaf in leaves if isinstance(leaf, bool) or not isinstance(leaf, (int, float))
        ]
    else:
        raise errors.invalid(
            f"input {name!r} is {dtype.name}, which the REST API does not carry; use gRPC"
        )
    if wrong:
        raise errors.invalid(
            f"input {name!r} must hold {dtype.name} values, got {json.dumps(wrong[0])}"
        )
    try:
        return np.array(leaves, dtype=dtype.as_numpy_dtype).reshape(shape)
    except (OverflowError, ValueError) as error:
        raise errors.invalid(f"input {name!r}: {error}") from None


def _json_text(name, value):
    if not name.endswith(signatures_lib.BINARY_SUFFIX):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _to_json_value(name, array):
    if array.dtype == object:
        leaf = functools.partial(_json_text, name)
    elif array.dtype in (np.float32, np.float16):
        # str() of a float32 is its shortest round-trip text: 0.1, not 0.10000000149.
        leaf = lambda value: float(str(value))  # noqa: E731
    else:
        return array.tolist()
    converted = np.empty(array.shape, dtype=object)
    for index, value in np.ndenumerate(array):
        converted[index] = leaf(value)
    return converted.tolist()


def _outputs_to_rows(outputs):
    sizes = {name: value.shape[0] if value.ndim else None for name, value in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise errors.invalid(
            f"outputs have different batch sizes {sizes}, so they cannot be "
            "returned as rows; send the request in columnar format "
            '({"inputs": ...})'
        )
    converted = {name: _to_json_value(name, outputs[name]) for name in sorted(outputs)}
    if len(converted) == 1:
        return _only_value(converted)
    batch = _only_value(sizes) if sizes else 0
    return [{name: value[i] for name, value in converted.items()} for i in range(batch)]
