r"""Sends one conversation turn to a TensorFlow Serving gRPC API and prints the outputs.

    python -m serving.client --server=localhost:8500 --model_name=mtask \
        --speaker=HAMLET --context="who's there?" --message="nay, answer me"

    python -m serving.client --server=localhost:8500 --model_name=mtask \
        --signature_name=score --speaker=HAMLET --message="..." --response="..."

It asks the server for the signature's inputs (GetModelMetadata), sends those of
--context/--message/--speaker/--response, and works against tensorflow_model_server
as well as `python -m serving.server`.
"""

import sys

import numpy as np
from absl import app
from absl import flags

_SERVER = flags.DEFINE_string("server", "localhost:8500", "gRPC address HOST:PORT.")
_MODEL_NAME = flags.DEFINE_string("model_name", None, "Model name on the server.")
_MODEL_VERSION = flags.DEFINE_integer(
    "model_version", None, "Version to ask for; default: the one the server serves."
)
_SIGNATURE_NAME = flags.DEFINE_string(
    "signature_name", "generate", "generate, score, reverse_score, or any other signature."
)
_SPEAKER = flags.DEFINE_string("speaker", None, "Who answers (the response's speaker).")
_CONTEXT = flags.DEFINE_string("context", "", "The turn before the message; may be empty.")
_MESSAGE = flags.DEFINE_string("message", None, "The message to answer.")
_RESPONSE = flags.DEFINE_string(
    "response", None, "The response to score (score and reverse_score)."
)
_TIMEOUT = flags.DEFINE_float("timeout", 30.0, "Seconds to wait for each call.")

_GENERATE_COLUMNS = ("scores", "forward_log_prob", "reverse_log_prob", "lengths")
_VALUES = {"speaker": _SPEAKER, "context": _CONTEXT, "message": _MESSAGE, "response": _RESPONSE}


class ClientError(Exception):
    """The request cannot be made; the message says which flag to give."""


def _model_spec(spec):
    spec.name = _MODEL_NAME.value
    if _MODEL_VERSION.value is not None:
        spec.version.value = _MODEL_VERSION.value


def _signature_inputs(stub):
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    _model_spec(request.model_spec)
    response = stub.GetModelMetadata(request, timeout=_TIMEOUT.value)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    signatures = signature_map.signature_def
    name = _SIGNATURE_NAME.value
    if name not in signatures:
        known = ", ".join(sorted(k for k in signatures if not k.startswith("__")))
        raise ClientError(f"model {_MODEL_NAME.value!r} has no signature {name!r}; it has: {known}")
    return sorted(signatures[name].inputs)


def _request(input_names):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    _model_spec(request.model_spec)
    request.model_spec.signature_name = _SIGNATURE_NAME.value
    for name in input_names:
        flag = _VALUES.get(name)
        if flag is None:
            raise ClientError(
                f"signature {_SIGNATURE_NAME.value!r} takes input {name!r}, "
                "which this client has no flag for"
            )
        if flag.value is None:
            raise ClientError(f"signature {_SIGNATURE_NAME.value!r} needs --{name}")
        request.inputs[name].CopyFrom(tf.make_tensor_proto([flag.value], dtype=tf.string))
    return request


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_outputs(outputs):
    """Lines showing a one-example Predict response; `outputs` maps names to arrays."""
    responses = outputs.get("responses")
    if responses is not None and responses.ndim == 2:
        # generate: one row of N responses, with same-shaped score columns beside them;
        # readable text when the model has it (mtask_tf exports it as `display`).
        shown = outputs.get("display", responses)
        columns = [name for name in _GENERATE_COLUMNS if name in outputs] + sorted(
            name for name in outputs if name not in _GENERATE_COLUMNS
        )
        columns = [
            name
            for name in columns
            if name not in ("responses", "display") and outputs[name].shape == responses.shape
        ]
        lines = []
        for rank, response in enumerate(shown[0], start=1):
            parts = "  ".join(
                f"{name} {_text(outputs[name][0, rank - 1].item())}" for name in columns
            )
            lines.append(f"{rank:3d}. {_text(response)}    ({parts})")
        return lines
    lines = []
    for name in sorted(outputs):
        value = outputs[name]
        if value.ndim and value.shape[0] == 1:
            value = value[0]  # the one example
        items = [_text(item) for item in np.ravel(value).tolist()]
        lines.append(
            f"{name}: " + (items[0] if np.ndim(value) == 0 else "[" + ", ".join(items) + "]")
        )
    return lines


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not _MODEL_NAME.value:
        raise app.UsageError("--model_name is required")
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(_SERVER.value) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            request = _request(_signature_inputs(stub))
            response = stub.Predict(request, timeout=_TIMEOUT.value)
        except grpc.RpcError as error:
            print(
                f"error: {_SERVER.value}: {error.code().name}: {error.details()}", file=sys.stderr
            )
            sys.exit(1)
        except ClientError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
    spec = response.model_spec
    print(f"model {spec.name} version {spec.version.value}, signature {spec.signature_name}")
    outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
    for line in format_outputs(outputs):
        print(line)


if __name__ == "__main__":
    app.run(main)
