r"""Serves SavedModels over TensorFlow Serving's gRPC and REST APIs.

    python -m serving.server --model_name=mtask --model_base_path=export/mtask \
        --port=8500 --rest_api_port=8501

    python -m serving.server --model_config_file=export/models.config --rest_api_port=8501

Flags follow `tensorflow_model_server` where they exist there. See docs/serving.md.
"""

import concurrent.futures
import ipaddress
import os
import signal
import threading

import grpc
from absl import app
from absl import flags
from absl import logging

from serving import config

_PORT = flags.DEFINE_integer("port", 8500, "gRPC port.")
_REST_API_PORT = flags.DEFINE_integer("rest_api_port", 0, "REST (HTTP/JSON) port; 0 = no REST API.")
_HOST = flags.DEFINE_string(
    "host",
    "127.0.0.1",
    "Address both APIs listen on: this machine only by default; 0.0.0.0 for every "
    "address. (tensorflow_model_server has no such flag and listens on every address.)",
)
_MODEL_NAME = flags.DEFINE_string(
    "model_name", "default", "Name of the model in requests (with --model_base_path)."
)
_MODEL_BASE_PATH = flags.DEFINE_string(
    "model_base_path",
    None,
    "Directory holding the model's versions: BASE/<integer>/saved_model.pb.",
)
_MODEL_CONFIG_FILE = flags.DEFINE_string(
    "model_config_file",
    None,
    "ModelServerConfig text proto listing the models, "
    "instead of --model_name/--model_base_path. Relative base_paths are relative to "
    "the current directory, as for tensorflow_model_server.",
)
_MAX_BATCH_SIZE = flags.DEFINE_integer(
    "max_batch_size",
    64,
    "Most examples in one request (more: RESOURCE_EXHAUSTED) and in one merged batch.",
)
_BATCH_TIMEOUT_MICROS = flags.DEFINE_integer(
    "batch_timeout_micros",
    0,
    "How long a request may wait for others to fill its batch. "
    "With 0, requests that arrive while a batch runs still form the next batch.",
)
_POLL_SECONDS = flags.DEFINE_integer(
    "file_system_poll_wait_seconds",
    1,
    "Seconds between looks for new model versions; 0 or less = look once, at start-up.",
)
_MAX_INPUT_CHARS = flags.DEFINE_integer(
    "max_input_chars",
    10000,
    "Most characters in one string of a text input (more: INVALID_ARGUMENT); 0 = no limit.",
)
_MAX_TENSOR_ELEMENTS = flags.DEFINE_integer(
    "max_tensor_elements",
    1_000_000,
    "Most elements in one input tensor (more: INVALID_ARGUMENT, checked before a gRPC "
    "tensor's values are read); 0 = no limit.",
)
_REST_MAX_BODY_BYTES = flags.DEFINE_integer(
    "rest_max_body_bytes",
    16 * 2**20,
    "Most bytes in a REST request body (more: 413, before the body is read).",
)
_REST_MAX_CONNECTIONS = flags.DEFINE_integer(
    "rest_max_connections",
    64,
    "Most REST connections served at once, each by a thread (more: 503 at once).",
)
_REST_REQUEST_TIMEOUT = flags.DEFINE_float(
    "rest_request_timeout_seconds",
    30.0,
    "How long a REST connection may stay idle, and how long a client has to send a "
    "whole request once it starts (then: 408); not extended by each header line.",
)
_GRPC_MAX_THREADS = flags.DEFINE_integer(
    "grpc_max_threads", 64, "Threads answering gRPC calls: the most requests handled at once."
)
_GRACE_SECONDS = flags.DEFINE_float(
    "shutdown_grace_seconds",
    10.0,
    "On SIGTERM or SIGINT, "
    "how long requests in flight may take to finish; a "
    "second signal exits at once.",
)

_MAX_MESSAGE_BYTES = 2**31 - 1  # tensorflow_model_server's limit too


def _check_flags():
    if _MODEL_CONFIG_FILE.value and _MODEL_BASE_PATH.value:
        raise app.UsageError("give either --model_config_file or --model_base_path, not both")
    if not _MODEL_CONFIG_FILE.value and not _MODEL_BASE_PATH.value:
        raise app.UsageError(
            "give --model_base_path=DIR (and --model_name=NAME), or --model_config_file=FILE"
        )
    for flag in (_PORT, _REST_API_PORT):
        if not 0 <= flag.value <= 65535:
            raise app.UsageError(f"--{flag.name} must be a port number, got {flag.value}")
    for flag in (_MAX_BATCH_SIZE, _GRPC_MAX_THREADS, _REST_MAX_BODY_BYTES, _REST_MAX_CONNECTIONS):
        if flag.value < 1:
            raise app.UsageError(f"--{flag.name} must be at least 1, got {flag.value}")
    for flag in (_BATCH_TIMEOUT_MICROS, _MAX_INPUT_CHARS, _MAX_TENSOR_ELEMENTS, _GRACE_SECONDS):
        if flag.value < 0:
            raise app.UsageError(f"--{flag.name} must be 0 or more, got {flag.value}")
    if _REST_REQUEST_TIMEOUT.value <= 0:
        raise app.UsageError(
            f"--rest_request_timeout_seconds must be more than 0, got {_REST_REQUEST_TIMEOUT.value}"
        )


def _sources():
    if _MODEL_CONFIG_FILE.value:
        sources = config.read_model_config(_MODEL_CONFIG_FILE.value)
    else:
        sources = [config.ModelSource(_MODEL_NAME.value, _MODEL_BASE_PATH.value)]
    return config.check_base_paths(sources)


def _say(message):
    print(message, flush=True)


def _reach(host):
    """Who can connect, said at start-up: the default is this machine only."""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        local = host == "localhost"
    if local:
        return f"listening on {host}: this machine only (--host=0.0.0.0 for every address)"
    return (
        f"listening on {host}: other machines can connect. serving.server is for local use "
        "and tests; in production, run tensorflow_model_server behind a proxy"
    )


def _start_grpc(repository, address):
    from serving import grpc_service

    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(_GRPC_MAX_THREADS.value, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    grpc_service.add_services(server, repository)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise config.ConfigError(f"cannot listen for gRPC on {address}: {error}") from None
    if not port:
        raise config.ConfigError(f"cannot listen for gRPC on {address}: is the port in use?")
    server.start()
    return server, port


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    _check_flags()
    try:
        sources = _sources()
    except config.ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    # TensorFlow loads in seconds: only once the flags and model paths are known good.
    from serving import models
    from serving import rest_server
    from serving import signatures

    options = models.Options(
        limits=signatures.Limits(
            _MAX_BATCH_SIZE.value, _MAX_INPUT_CHARS.value, _MAX_TENSOR_ELEMENTS.value
        ),
        batch_timeout_seconds=_BATCH_TIMEOUT_MICROS.value / 1e6,
    )
    try:
        repository = models.ModelRepository(sources, options, log=_say)
        repository.refresh(raise_errors=True)
        for source in sources:
            if repository.serving_version(source.name) is None:
                _say(
                    f"model {source.name!r}: no version under {source.base_path} yet; "
                    "waiting for one"
                )
        grpc_server, grpc_port = _start_grpc(repository, f"{_HOST.value}:{_PORT.value}")
        _say(f"gRPC API on {_HOST.value}:{grpc_port}")
        rest = None
        if _REST_API_PORT.value:
            limits = rest_server.HttpLimits(
                _REST_MAX_BODY_BYTES.value, _REST_MAX_CONNECTIONS.value, _REST_REQUEST_TIMEOUT.value
            )
            try:
                rest = rest_server.RestServer(_HOST.value, _REST_API_PORT.value, repository, limits)
            except OSError as error:
                raise config.ConfigError(
                    f"cannot listen for REST on {_HOST.value}:{_REST_API_PORT.value}: {error}"
                ) from None
            rest.start()
            _say(f"REST API on http://{_HOST.value}:{rest.port}/v1/models/")
        _say(_reach(_HOST.value))
    except (config.ConfigError, RuntimeError, OSError) as error:
        raise SystemExit(f"error: {error}") from None

    polling = _POLL_SECONDS.value > 0
    if polling:
        repository.start_polling(_POLL_SECONDS.value)
    _say(
        f"batching: at most {_MAX_BATCH_SIZE.value} examples per batch, waiting up to "
        f"{_BATCH_TIMEOUT_MICROS.value} us for more; new versions: "
        + (f"looked for every {_POLL_SECONDS.value} s" if polling else "not looked for")
    )
    received = []
    stop = threading.Event()

    def on_signal(number, frame):
        if stop.is_set():
            os._exit(1)  # a second Ctrl-C: do not wait for requests in flight
        received.append(signal.Signals(number).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _say("ready")
    while not stop.wait(1.0):
        pass
    grace = _GRACE_SECONDS.value
    _say(f"{received[0]}: no new requests; finishing those in flight (up to {grace:g} s)")
    grpc_stopped = grpc_server.stop(grace)
    if rest is not None:
        rest.stop(grace)
    grpc_stopped.wait()
    repository.close()
    _say("stopped")


if __name__ == "__main__":
    app.run(main)
