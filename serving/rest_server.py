"""The HTTP side of the REST API: connections, limits and deadlines around a `rest.RestApi`.

Built on the standard library's `http.server`, hardened against clients that
send too much, too slowly or too often:

* a request body larger than `HttpLimits.max_body_bytes` is refused with 413
  before any of it is read; a POST without a usable Content-Length gets 411
  (missing) or 400 (negative, not a number);
* at most `HttpLimits.max_connections` connections are served at once, each by
  its own thread; more are answered 503 at once, never left waiting or reset;
* a connection may stay idle, and a client has to send a whole request once it
  starts, for `HttpLimits.request_timeout_seconds` in all: the deadline is not
  reset by each header line or body byte (a request cut off gets 408);
* every connection the server closes is closed gently (the client's unread
  bytes are drained for a moment), so the client reads its answer rather than
  a reset; a client that goes away costs one log line, not a traceback.

Every answer, including the errors of the HTTP layer, is TensorFlow Serving's
JSON shape, `{"error": "..."}`.
"""

import dataclasses
import http
import http.server
import io
import json
import logging
import queue
import selectors
import socket
import threading
import time

from serving import rest

logger = logging.getLogger(__name__)

_BACKLOG = max(128, socket.SOMAXCONN)  # Python's default of 5 drops bursts of clients
_LINGER_SECONDS = 2.0  # how long a closed connection's unread bytes are drained
_MAX_LINGERING = 1024  # sockets drained at once; more are closed outright


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """What REST clients may do.

    Args:
      max_body_bytes: most bytes in a request body (more: 413, unread).
      max_connections: most connections served at once (more: 503).
      request_timeout_seconds: how long a connection may stay idle, and how long a
        client has to send a whole request once it starts (then: 408 and close).
    """

    max_body_bytes: int = 16 * 2**20
    max_connections: int = 64
    request_timeout_seconds: float = 30.0


def _json_response(status, payload):
    """The bytes of a whole HTTP/1.1 response that closes the connection."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_TOO_MANY = _json_response(
    503, {"error": "too many connections to this server; try again in a moment"}
)


class _Lingerer:
    """Closes sockets gently from one thread: after our FIN, their unread bytes are drained.

    Closing a socket with unread input makes the kernel send a reset, which can
    reach the client before it has read our answer.
    """

    def __init__(self):
        self._added = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="rest lingerer", daemon=True)
        self._thread.start()

    def close(self, sock):
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        self._added.put(sock)

    def _run(self):
        while True:
            now = time.monotonic()
            while not self._added.empty():
                sock = self._added.get()
                if len(self._selector.get_map()) < _MAX_LINGERING:
                    self._selector.register(sock, selectors.EVENT_READ, now + _LINGER_SECONDS)
                else:
                    sock.close()
            for key, _ in self._selector.select(timeout=0.1):
                try:
                    done = not key.fileobj.recv(65536)
                except OSError:
                    done = True
                if done:
                    self._drop(key.fileobj)
            for key in list(self._selector.get_map().values()):
                if key.data < now:
                    self._drop(key.fileobj)

    def _drop(self, sock):
        self._selector.unregister(sock)
        sock.close()


class _RequestReader(io.RawIOBase):
    """A socket's input with one deadline per request, not one timeout per read.

    `expect_request` starts the idle deadline; the first byte of the request
    restarts it once, for the whole request.
    """

    def __init__(self, sock, seconds):
        self._sock = sock
        self._seconds = seconds
        self.deadline = None
        self.received = 0
        self.timed_out = False

    def readable(self):
        return True

    def expect_request(self):
        self.deadline = time.monotonic() + self._seconds
        self.received = 0
        self.timed_out = False

    def readinto(self, buffer):
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError("request deadline passed")
            self._sock.settimeout(remaining)
            count = self._sock.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise
        if count and not self.received:
            self.deadline = time.monotonic() + self._seconds
        self.received += count
        return count


class _HttpServer(http.server.HTTPServer):
    request_queue_size = _BACKLOG

    def __init__(self, address, api, limits):
        super().__init__(address, _Handler)
        self.api = api
        self.limits = limits
        self.connections = 0
        self.in_flight = 0
        self.stopping = False
        self.changed = threading.Condition()
        self.lingerer = _Lingerer()

    def process_request(self, request, client_address):
        with self.changed:
            admitted = self.connections < self.limits.max_connections
            if admitted:
                self.connections += 1
        if not admitted:
            try:  # a few hundred bytes: they fit the empty send buffer at once
                request.setblocking(False)
                request.send(_TOO_MANY)
            except OSError:
                pass
            self.lingerer.close(request)
            return
        # Daemon threads: an idle keep-alive connection must not delay exit.
        threading.Thread(
            target=self._serve, args=(request, client_address), name="rest", daemon=True
        ).start()

    def _serve(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except ConnectionError as error:  # the client went away: nothing to fix here
            logger.info("REST client %s:%s went away: %s", *client_address[:2], error)
        except Exception:
            logger.exception("REST connection from %s failed", client_address[0])
        finally:
            with self.changed:
                self.connections -= 1
            self.lingerer.close(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mtask-serving"

    def setup(self):
        self.timeout = self.server.limits.request_timeout_seconds  # for writes
        super().setup()
        self._reader = _RequestReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._reader)
        self._answered = False

    def handle_one_request(self):
        self._reader.expect_request()
        self._answered = False
        super().handle_one_request()  # a read that times out ends it quietly
        if self._reader.timed_out and self._reader.received and not self._answered:
            self.close_connection = True
            self._reply(
                408,
                {
                    "error": "the request did not arrive in "
                    f"{self.timeout:g} s; send it whole, without pauses"
                },
            )

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def send_error(self, code, message=None, explain=None):
        """The HTTP layer's own errors (bad request line, headers...), as JSON."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._reply(code, {"error": message or http.HTTPStatus(code).description})

    def _handle(self, method):
        server = self.server
        with server.changed:
            server.in_flight += 1
        try:
            self._reply(*self._answer(method))
        finally:
            with server.changed:
                server.in_flight -= 1
                server.changed.notify_all()

    def _reply(self, status, payload):
        self._answered = True
        self.connection.settimeout(self.timeout)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, method):
        if self.server.stopping:
            self.close_connection = True
            return 503, {"error": "the server is shutting down"}
        length = self._body_length(method)
        if isinstance(length, tuple):
            self.close_connection = True  # the body, if any, is not read
            return length
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return 400, {"error": f"the body ended after {len(body)} of {length} bytes"}
        return self.server.api.handle(method, self.path, body)

    def _body_length(self, method):
        """The body's length from the headers, or `(status, error)` to answer at once."""
        if "Transfer-Encoding" in self.headers:
            return 411, {"error": "send the request body with a Content-Length header"}
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            if method == "POST":
                return 411, {"error": "a POST needs a Content-Length header"}
            return 0
        text = lengths[0].strip()
        # ASCII digits only: "²".isdigit() is True, and int("²") fails.
        if len(set(lengths)) > 1 or not (text.isascii() and text.isdigit()):
            return 400, {
                "error": f"bad Content-Length {', '.join(lengths)!r}: "
                "it must be one whole number of bytes"
            }
        limit = self.server.limits.max_body_bytes
        if len(text) > len(str(limit)) or int(text) > limit:
            return 413, {
                "error": f"the request body has {text} bytes, more than this server's "
                f"limit of {limit} (serving.server --rest_max_body_bytes)"
            }
        return int(text)

    def log_message(self, format, *args):  # noqa: A002  the base class's name
        logger.debug("%s %s", self.address_string(), format % args)


class RestServer:
    """The REST API on `host:port` (port 0 picks a free one; see `.port`).

    Args:
      host: address to bind, e.g. "127.0.0.1" or "0.0.0.0".
      port: TCP port.
      repository: the `models.ModelRepository` to serve.
      limits: an `HttpLimits`.
    """

    def __init__(self, host, port, repository, limits=HttpLimits()):
        self._server = _HttpServer((host, port), rest.RestApi(repository), limits)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rest server", daemon=True
        )

    def start(self):
        self._thread.start()

    def stop(self, grace_seconds):
        """Stops accepting, waits up to `grace_seconds` for requests being answered."""
        server = self._server
        with server.changed:
            server.stopping = True
        server.shutdown()
        server.server_close()  # refuses new connections; open ones finish their request
        deadline = time.monotonic() + grace_seconds
        with server.changed:
            while server.in_flight and time.monotonic() < deadline:
                server.changed.wait(deadline - time.monotonic())
