"""`serving.server` against hostile clients: raw sockets on loopback, one server for all.

Each test sends what a careless or malicious client sends (huge or missing
lengths, half requests, floods of connections, deep JSON, tensors claiming
billions of elements, resets) and checks that the answer is a status code with
TensorFlow Serving's `{"error": ...}` body and that the server goes on serving.
"""

import http.client
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import time

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.conftest import REPO
from tests.conftest import python_for_modules
from tests.serving.conftest import HOST
from tests.serving.conftest import Server
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow

MAX_BODY = 256 * 1024
MAX_CONNECTIONS = 4
MAX_ELEMENTS = 1000
REQUEST_TIMEOUT = 5  # seconds; the slowloris test waits this long
PREDICT = {"signature_name": "length", "instances": ["to be"]}


class DefaultHostServer(Server):
    """A `Server` started without --host, so it listens where serving.server does by default."""

    def __init__(self, log_path, *flags):
        self.port, self.rest_port, self.log_path = free_port(), free_port(), log_path
        python, zygote_env = python_for_modules()
        command = [python, "-m", "serving.server", f"--port={self.port}"]
        command += [f"--rest_api_port={self.rest_port}", *flags]
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=dict(os.environ, **zygote_env), stdout=log, stderr=log
            )
        self.channel = grpc.insecure_channel(f"{HOST}:{self.port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    server = DefaultHostServer(
        tmp_path_factory.mktemp("hostile") / "server.log",
        "--model_name=toy",
        f"--model_base_path={export_dir / 'toy'}",
        "--max_batch_size=8",
        f"--max_tensor_elements={MAX_ELEMENTS}",
        f"--rest_max_body_bytes={MAX_BODY}",
        f"--rest_max_connections={MAX_CONNECTIONS}",
        f"--rest_request_timeout_seconds={REQUEST_TIMEOUT}",
        "--file_system_poll_wait_seconds=0",
        "--verbosity=0",  # INFO: a client that goes away is logged there
    )
    yield server.wait_ready()
    assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()


def _connect(server):
    return socket.create_connection((HOST, server.rest_port), timeout=20)


def _response(sock):
    """`(status, JSON body)` of the next response on `sock`."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read())


def _exchange(server, data):
    with _connect(server) as sock:
        sock.sendall(data)
        return _response(sock)


def _post(path, body, length_headers):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "".join(f"{header}\r\n" for header in length_headers) + "\r\n"
    return head.encode("latin-1") + body


def _assert_serving(server):
    """A good request gets its answer (retried while closed connections still count)."""
    for _ in range(100):
        status, body = server.rest("/v1/models/toy:predict", PREDICT)
        if status != 503:
            break
        time.sleep(0.05)
    assert (status, body) == (200, {"predictions": [5]})


def test_default_address_is_loopback_and_start_up_says_so(server):
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if state == "0A" and int(local.split(":")[1], 16) in (
                    server.port,
                    server.rest_port,
                ):
                    listening.add(local.split(":")[0])
    # 127.0.0.1, also as gRPC's IPv4-mapped IPv6 address; not 0.0.0.0 or ::
    assert listening and listening <= {"0100007F", "0000000000000000FFFF00000100007F"}
    assert "listening on 127.0.0.1: this machine only" in server.log()


def test_body_over_the_limit_gets_413_before_it_is_read(server):
    for length in ("1000000000000", "9" * 100, str(MAX_BODY + 1)):
        status, body = _exchange(
            server, _post("/v1/models/toy:predict", b"", [f"Content-Length: {length}"])
        )
        assert status == 413 and f"limit of {MAX_BODY}" in body["error"], (length, body)
    # A client that sends its large body anyway still reads the 413, not a reset.
    big = json.dumps({"instances": ["x" * 1_000_000]}).encode()
    request = _post("/v1/models/toy:predict", big, [f"Content-Length: {len(big)}"])
    assert _exchange(server, request)[0] == 413
    _assert_serving(server)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ([], 411),
        (["Content-Length: -1"], 400),
        (["Content-Length: abc"], 400),
        (["Content-Length: \xb2"], 400),  # "²".isdigit() is True
        (["Content-Length: 2", "Content-Length: 3"], 400),
    ],
)
def test_post_without_a_usable_content_length(server, headers, expected):
    status, body = _exchange(server, _post("/v1/models/toy:predict", b"{}", headers))
    assert status == expected and set(body) == {"error"}, body


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [' + "[" * 990 + '"a"' + "]" * 990 + "]}",
        '{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"instances": [{"message": ' + '{"a": ' * 990 + "1" + "}" * 990 + "}]}",
    ],
    ids=["lists", "beyond-the-parser", "objects"],
)
def test_deeply_nested_json_gets_400(server, body):
    status, answer = server.rest("/v1/models/toy:predict", body.encode())
    assert status == 400 and "levels deep" in answer["error"], answer


def test_version_beyond_int64_gets_400(server):
    for path in (
        "/v1/models/toy/versions/99999999999999999999999",
        "/v1/models/toy/versions/9223372036854775808:predict",
    ):
        status, body = server.rest(path, PREDICT if path.endswith(":predict") else None)
        assert status == 400 and "Failed to convert version" in body["error"], body


def _claim(dtype, shape, **values):
    return tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
        ),
        **values,
    )


@pytest.mark.parametrize(
    "name, proto, expected",
    [
        # 14 bytes claiming 2**62 strings: the last value would be repeated to fill them.
        (
            "message",
            _claim(types_pb2.DT_STRING, [2**62], string_val=[b"x"]),
            "input 'message' has shape [4611686018427387904]: 4611686018427387904 elements",
        ),
        ("message", _claim(types_pb2.DT_STRING, [9], string_val=[b"x"]), "Task size 9"),
        ("message", _claim(types_pb2.DT_STRING, [-3]), "input 'message': its TensorProto claims"),
        (
            "unknown",
            _claim(types_pb2.DT_FLOAT, [2**62], float_val=[1]),
            "unknown input(s): unknown",
        ),
    ],
    ids=["huge", "over-the-batch-size", "negative", "unknown-input"],
)
def test_grpc_tensor_claiming_a_huge_shape_is_refused_before_it_is_read(
    server, name, proto, expected
):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = "length"
    request.inputs[name].CopyFrom(proto)
    with pytest.raises(grpc.RpcError) as raised:
        server.stub.Predict(request, timeout=20)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in raised.value.details()
    response = server.predict("toy", {"message": ["to be"]}, signature="length")
    assert response.outputs["chars"].int_val == [5]


def test_connections_over_the_cap_get_503_and_the_server_recovers(server):
    # Half-sent requests hold connections (slowloris); twice the cap, to be sure all are taken.
    held = [_connect(server) for _ in range(2 * MAX_CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n")
        status, body = _exchange(server, b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and "too many connections" in body["error"]
    finally:
        for sock in held:
            sock.close()
    _assert_serving(server)


def test_half_sent_request_gets_408_however_slowly_its_lines_come(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\n")
        for line in range(6 * REQUEST_TIMEOUT):  # a line every 0.5 s: up to 3 deadlines
            if select.select([sock], [], [], 0.5)[0]:
                break
            sock.sendall(f"X-Line-{line}: slow\r\n".encode())
        else:
            pytest.fail(f"no answer in {3 * REQUEST_TIMEOUT} s of header lines")
        status, body = _response(sock)
    assert status == 408 and "did not arrive" in body["error"]


def _listener_pid(port):
    """The process listening on loopback `port` (the server, not the test zygote's shim)."""
    with open("/proc/net/tcp") as f:
        rows = [row.split() for row in f.readlines()[1:]]
    inode = next(r[9] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return int(pid)
    raise AssertionError(f"no process listens on port {port}")


def test_a_burst_of_clients_is_queued_and_every_one_answered(server):
    """128 clients connect while the server is stopped: the backlog holds them all."""
    pid = _listener_pid(server.rest_port)
    clients = [socket.socket() for _ in range(128)]
    os.kill(pid, signal.SIGSTOP)
    try:
        with selectors.DefaultSelector() as selector:
            for sock in clients:
                sock.setblocking(False)
                sock.connect_ex((HOST, server.rest_port))
                selector.register(sock, selectors.EVENT_WRITE)
            deadline = time.monotonic() + 10
            while selector.get_map() and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.1):
                    selector.unregister(key.fileobj)
            connected = [
                s for s in clients if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            ]
        assert len(connected) == len(clients), f"{len(connected)} of {len(clients)} connected"
    finally:
        os.kill(pid, signal.SIGCONT)
    statuses = []
    try:
        for sock in clients:
            sock.setblocking(True)
            sock.settimeout(20)
            sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = [_response(sock)[0] for sock in clients]
    finally:
        for sock in clients:
            sock.close()
    # Which ones get 503 depends on how fast the server answers the first ones.
    assert len(statuses) == len(clients) and set(statuses) <= {200, 503}, statuses
    _assert_serving(server)


def _reset(sock):
    """Closes `sock` with a TCP reset rather than a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_client_that_goes_away_costs_one_line_not_a_traceback(server):
    ports = []
    for _ in range(3):
        with _connect(server) as sock:
            # After one whole exchange the server is surely reading this connection.
            sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _response(sock)[0] == 200
            sock.sendall(_post("/v1/models/toy:predict", b"{", ["Content-Length: 100"]))
            ports.append(sock.getsockname()[1])
            _reset(sock)

    def lines():
        log = server.log().splitlines()
        return [line for line in log if any(f":{port} went away" in line for port in ports)]

    for _ in range(200):
        if len(lines()) >= len(ports):
            break
        time.sleep(0.05)
    assert len(lines()) == len(ports), lines()
    assert "Traceback" not in server.log()
    _assert_serving(server)
