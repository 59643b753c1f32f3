"""Request errors with a canonical status code, and TensorFlow errors turned into them.

The codes are gRPC's (`grpc.StatusCode`); `rest.py` maps them to HTTP statuses
the way TensorFlow Serving does.
"""

import re

import grpc
import tensorflow as tf

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}

# Lines of a graph error that locate the failing op rather than say what is wrong.
_NOISE = re.compile(
    r"^(Graph execution error:|Detected at node |<stack traces unavailable>"
    r"|\s+File \"|\s+\[\[\{\{node )"
)
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


class ServingError(Exception):
    """A request failed; `code` is the status the client gets, `message` says why.

    Args:
      code: a `grpc.StatusCode`.
      message: text for the client; it should say how to fix the request.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return f"{self.code.name}: {self.message}"


def invalid(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def clean_message(message):
    """Keeps what a TensorFlow error says, dropping node names and Python tracebacks.

    `Graph execution error: ... assertion failed: [unknown speaker] ... [[{{node X}}]]
    [Op:__inference_...]` becomes `assertion failed: [unknown speaker] ...`.
    """
    lines = []
    skipping_source = False
    for line in message.splitlines():
        if _NOISE.match(line):
            # A traceback's `File` line is followed by an indented source line.
            skipping_source = line.lstrip().startswith('File "')
            continue
        if skipping_source and line.startswith("    "):
            continue
        skipping_source = False
        line = _OP_SUFFIX.sub("", line).strip()
        if line:
            lines.append(line)
    return "\n".join(lines) or message.strip()


def from_tf_error(error):
    """A `ServingError` with the code and cleaned message of a `tf.errors.OpError`."""
    code = _CODES_BY_NUMBER.get(error.error_code, grpc.StatusCode.UNKNOWN)
    return ServingError(code, clean_message(error.message))


def from_exception(error):
    """Any exception raised while serving a request, as a `ServingError`."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, tf.errors.OpError):
        return from_tf_error(error)
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}".rstrip(": "))
