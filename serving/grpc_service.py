"""TensorFlow Serving's gRPC services over a `ModelRepository`.

`PredictionService` answers Predict and GetModelMetadata, `ModelService` answers
GetModelStatus; Classify, Regress, MultiInference and HandleReloadConfigRequest
stay UNIMPLEMENTED (the generated base classes' answer).
"""

import functools
import logging

import grpc
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import errors

logger = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"

# The typed repeated field TensorFlow Serving fills for each dtype (it answers with
# `float_val` etc., not `tensor_content`, and clients read them directly).
_VALUE_FIELDS = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int8: "int_val",
    tf.int16: "int_val",
    tf.int32: "int_val",
    tf.uint8: "int_val",
    tf.uint16: "int_val",
    tf.int64: "int64_val",
    tf.uint32: "uint32_val",
    tf.uint64: "uint64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
}


def tensor_proto(array):
    """A numpy array (strings as an object array of bytes) as a `TensorProto`."""
    dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
    field = _VALUE_FIELDS.get(dtype)
    if field is None:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum, tensor_shape=tf.TensorShape(array.shape).as_proto()
    )
    getattr(proto, field).extend(array.ravel().tolist())
    return proto


def _claimed_shape(name, proto):
    """The shape a `TensorProto` claims, read without materialising its values."""
    if proto.tensor_shape.unknown_rank:
        raise errors.invalid(f"input {name!r}: its TensorProto has no shape (unknown rank)")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise errors.invalid(f"input {name!r}: its TensorProto claims a negative size {shape}")
    return shape


def _array(name, proto):
    try:
        return tf.make_ndarray(proto)
    except Exception as error:  # noqa: BLE001  any malformed TensorProto
        raise errors.invalid(f"input {name!r}: cannot read its TensorProto: {error}") from None


def _version(model_spec):
    return model_spec.version.value if model_spec.HasField("version") else None


def get_servable(repository, model_spec):
    return repository.get(model_spec.name, _version(model_spec), model_spec.version_label)


def model_metadata(repository, request):
    """A `GetModelMetadataResponse` with the SignatureDefs of the requested version."""
    if not request.metadata_field:
        raise errors.invalid(
            "GetModelMetadataRequest must specify at least one "
            f"metadata_field; the supported one is {SIGNATURE_DEF_FIELD!r}"
        )
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise errors.invalid(
                f"Metadata field {field} is not supported; the supported "
                f"one is {SIGNATURE_DEF_FIELD!r}"
            )
    servable = get_servable(repository, request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature_def)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def model_status(repository, request):
    """A `GetModelStatusResponse`: every version seen, with its state."""
    if not request.HasField("model_spec"):
        raise errors.invalid("Missing ModelSpec")
    spec = request.model_spec
    if spec.version_label:
        repository.get(spec.name, label=spec.version_label)  # raises: no labels
    response = get_model_status_pb2.GetModelStatusResponse()
    State = get_model_status_pb2.ModelVersionStatus.State
    for version, state, error in repository.status(spec.name, _version(spec)):
        status = response.model_version_status.add(version=version, state=State.Value(state))
        # Set even when OK: the stock server's REST JSON always shows "status".
        status.status.SetInParent()
        if error is not None:
            status.status.error_code, status.status.error_message = error
    return response


def _rpc(method):
    """Turns any exception into the RPC's status: ServingErrors keep their code."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except Exception as error:  # noqa: BLE001
            failure = errors.from_exception(error)
            if failure.code == grpc.StatusCode.INTERNAL:
                logger.exception("%s failed", method.__name__)
        context.abort(failure.code, failure.message)

    return wrapper


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata.

    Args:
      repository: the `models.ModelRepository` to serve.
    """

    def __init__(self, repository):
        self._repository = repository

    @_rpc
    def Predict(self, request, context):
        servable = get_servable(self._repository, request.model_spec)
        shapes = {name: _claimed_shape(name, proto) for name, proto in request.inputs.items()}
        signature = servable.signature(request.model_spec.signature_name)
        signature.check_shapes(shapes, servable.limits)
        inputs = {name: _array(name, proto) for name, proto in request.inputs.items()}
        key, outputs = servable.predict(
            request.model_spec.signature_name, inputs, list(request.output_filter)
        )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = key
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tensor_proto(value))
        return response

    @_rpc
    def GetModelMetadata(self, request, context):
        return model_metadata(self._repository, request)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus.

    Args:
      repository: the `models.ModelRepository` to report on.
    """

    def __init__(self, repository):
        self._repository = repository

    @_rpc
    def GetModelStatus(self, request, context):
        return model_status(self._repository, request)


def add_services(server, repository):
    """Registers both services on a `grpc.Server`."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(repository), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
