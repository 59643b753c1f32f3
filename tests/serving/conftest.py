"""Runs `python -m serving.server` as a subprocess on loopback ports, and talks to it."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.conftest import REPO
from tests.conftest import python_for_modules
from tests.serving import toy_models

HOST = "127.0.0.1"


def free_port():
    """A port nothing listens on now: the kernel's pick for a socket bound to port 0."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A `serving.server` subprocess; its output goes to `log_path`.

    Args:
      log_path: file for the server's stdout and stderr.
      *flags: extra flags, e.g. "--max_batch_size=8".
    """

    def __init__(self, log_path, *flags):
        self.port = free_port()
        self.rest_port = free_port()
        self.log_path = log_path
        python, zygote_env = python_for_modules()
        command = [
            python,
            "-m",
            "serving.server",
            f"--host={HOST}",
            f"--port={self.port}",
            f"--rest_api_port={self.rest_port}",
            *flags,
        ]
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=dict(os.environ, **zygote_env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.channel = grpc.insecure_channel(f"{HOST}:{self.port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "\nready\n" in self.log():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.log()}")

    def stop(self, signal_number=signal.SIGTERM, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        self.channel.close()
        return self.process.wait(timeout)

    def predict(self, model, inputs, signature="", version=None, timeout=20, **spec):
        """Predict over gRPC; `inputs` maps names to lists (strings) or arrays."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        for key, value in spec.items():
            setattr(request.model_spec, key, value)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        return self.stub.Predict(request, timeout=timeout)

    def rest(self, path, body=None, timeout=20):
        """`(HTTP status, decoded JSON)`; `body` is a JSON value, bytes or None (GET)."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{HOST}:{self.rest_port}{path}", data=data)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def outputs(response):
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def turn(message="nay, answer me", speaker="HAMLET", context="who's there?"):
    return {"context": [context], "message": [message], "speaker": [speaker]}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """`export/` with models `toy` (version 1, tag v1) and `other` (version 1, tag o1)."""
    root = tmp_path_factory.mktemp("export")
    toy_models.save_toy_model(root / "toy", 1, "v1")
    toy_models.save_toy_model(root / "other", 1, "o1")
    os.makedirs(root / "toy" / "not_a_version")  # ignored: not an integer
    os.makedirs(root / "toy" / "7")  # ignored: no saved_model.pb
    return root
