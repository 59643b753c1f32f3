"""One signature of a loaded SavedModel: its tensor specs, request checks and execution.

Requests reach a `Signature` as `{input name: numpy array}` whatever the wire
format (strings are object arrays of `bytes`), and leave it the same way.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from serving import errors

# TensorFlow Serving's REST convention: inputs and outputs named `*_bytes` hold
# binary strings; every other string tensor holds UTF-8 text.
BINARY_SUFFIX = "_bytes"


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a single request may send.

    Args:
      max_batch_size: most examples (leading dimension) in one request, and in one
        merged batch.
      max_input_chars: most characters in one element of a text input; 0 = no limit.
      max_tensor_elements: most elements in one input tensor; 0 = no limit.
    """

    max_batch_size: int = 64
    max_input_chars: int = 0
    max_tensor_elements: int = 0


def _shape_text(shape):
    dims = shape if isinstance(shape, tuple) else tuple(shape.as_list())
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _dtype_of(array):
    if array.dtype == object:
        return tf.string
    try:
        return tf.as_dtype(array.dtype)
    except TypeError:
        return None


def _spec(name, tensor_info):
    if tensor_info.WhichOneof("encoding") != "name":
        raise ValueError(f"{name!r} is a composite (ragged or sparse) tensor")
    return tf.TensorSpec(
        tf.TensorShape(tensor_info.tensor_shape), tf.as_dtype(tensor_info.dtype), name
    )


def _has_batch_dimension(spec):
    return spec.shape.rank is not None and spec.shape.rank >= 1 and spec.shape[0] is None


class Signature:
    """A callable signature with the specs of its SignatureDef.

    Args:
      key: the signature's name in the SavedModel, e.g. `generate`.
      function: the loaded concrete function (`loaded.signatures[key]`).
      signature_def: its `SignatureDef` proto from `saved_model.pb`.

    A signature is *batchable* when every input and output has a leading dimension
    of unknown size: then requests must send inputs of equal leading size, and
    concurrent requests may be merged.

    Example:
      signature = Signature("score", loaded.signatures["score"], signature_def)
      batch = signature.check(inputs, Limits(max_batch_size=64))
      outputs = signature.run(inputs)
    """

    def __init__(self, key, function, signature_def):
        self.key = key
        self.inputs = {n: _spec(n, info) for n, info in signature_def.inputs.items()}
        self.outputs = {n: _spec(n, info) for n, info in signature_def.outputs.items()}
        self.batchable = bool(self.inputs) and all(
            _has_batch_dimension(spec) for spec in [*self.inputs.values(), *self.outputs.values()]
        )
        self._function = function

    def check(self, inputs, limits):
        """Raises `ServingError` unless `inputs` fit this signature and `limits`.

        Returns the batch size (the shared leading dimension), or None when the
        signature is not batchable.
        """
        self._check_names(inputs)
        for name in sorted(inputs):
            self._check_dtype(name, inputs[name])
            self._check_shape(name, inputs[name].shape, limits)
        batch = self._check_batch(inputs, limits) if self.batchable else None
        for name in sorted(inputs):
            if self.inputs[name].dtype == tf.string and not name.endswith(BINARY_SUFFIX):
                _check_text(name, inputs[name], limits.max_input_chars)
        return batch

    def check_shapes(self, shapes, limits):
        """`check` for the shapes alone, `{input name: tuple of sizes}`: before reading values.

        A tensor proto may claim far more elements than it carries (the last value
        repeats): this refuses such claims before they cost memory.
        """
        self._check_names(shapes)
        for name in sorted(shapes):
            self._check_shape(name, shapes[name], limits)
            if self.batchable and shapes[name][0] > limits.max_batch_size:
                raise _too_many_examples(shapes[name][0], limits)

    def _check_names(self, inputs):
        missing = sorted(set(self.inputs) - set(inputs))
        extra = sorted(set(inputs) - set(self.inputs))
        if missing or extra:
            problems = ([f"missing input(s): {', '.join(missing)}"] if missing else []) + (
                [f"unknown input(s): {', '.join(extra)}"] if extra else []
            )
            raise errors.invalid(
                f"{'; '.join(problems)}. Signature {self.key!r} takes "
                f"inputs: {', '.join(sorted(self.inputs))}"
            )

    def _check_dtype(self, name, array):
        spec = self.inputs[name]
        dtype = _dtype_of(array)
        if dtype != spec.dtype:
            got = dtype.name if dtype is not None else str(array.dtype)
            raise errors.invalid(f"input {name!r} must be {spec.dtype.name}, got {got}")

    def _check_shape(self, name, shape, limits):
        spec = self.inputs[name]
        if not spec.shape.is_compatible_with(shape):
            raise errors.invalid(
                f"input {name!r} must have shape {_shape_text(spec.shape)} "
                f"(rank {spec.shape.rank}), got {_shape_text(shape)}"
            )
        elements = math.prod(shape)
        if limits.max_tensor_elements and elements > limits.max_tensor_elements:
            raise errors.invalid(
                f"input {name!r} has shape {_shape_text(shape)}: {elements} elements, more "
                f"than this server's limit of {limits.max_tensor_elements} per input"
            )

    @staticmethod
    def _check_batch(inputs, limits):
        sizes = {name: inputs[name].shape[0] for name in sorted(inputs)}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{name} has {size}" for name, size in sizes.items())
            raise errors.invalid(
                f"all inputs must have the same batch size (first dimension): {listed}"
            )
        batch = next(iter(sizes.values()))
        if batch > limits.max_batch_size:
            raise _too_many_examples(batch, limits)
        return batch

    def run(self, inputs):
        """Runs the signature on checked inputs; returns `{output name: numpy array}`."""
        tensors = {
            name: tf.convert_to_tensor(value, dtype=self.inputs[name].dtype)
            for name, value in inputs.items()
        }
        try:
            outputs = self._function(**tensors)
        except tf.errors.OpError as error:
            raise errors.from_tf_error(error) from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def _too_many_examples(batch, limits):
    return errors.invalid(  # the stock server's code and message
        f"Task size {batch} is larger than maximum input batch size "
        f"{limits.max_batch_size}; send at most {limits.max_batch_size} examples per request"
    )


def _check_text(name, array, max_chars):
    for index, item in np.ndenumerate(array):
        where = f"{name!r}[{', '.join(map(str, index))}]" if index else repr(name)
        if not isinstance(item, bytes):
            raise errors.invalid(f"input {where} must be a string, got {type(item).__name__}")
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError as error:
            raise errors.invalid(
                f"input {where} is not valid UTF-8 (byte {item[error.start]:#04x} at "
                f"offset {error.start}); send text encoded as UTF-8"
            ) from None
        if max_chars and len(text) > max_chars:
            raise errors.invalid(
                f"input {where} has {len(text)} characters, more than "
                f"this server's limit of {max_chars}"
            )
