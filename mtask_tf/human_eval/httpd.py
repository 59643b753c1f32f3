"""The HTTP server under the pages, bounded so that hostile clients cannot knock it over.

- A listen backlog of 128 (Python's default of 5 drops connections under load).
- At most `max_connections` connections at once, each on a thread of its own;
  one more is answered 503 at once and closed, never left waiting.
- A request's head (request line and headers) must arrive within
  `header_timeout` seconds of the server starting to wait for it, however
  slowly it trickles in: the deadline is not renewed per line or per byte
  (slowloris). Its body then has `body_timeout` seconds. Late: 408, closed.
- `Content-Length` is required where a body is (411), a plain number (400),
  at most `MAX_BODY` (413); chunked bodies are refused (411).
- A client that goes away mid-request (reset, broken pipe, deadline) is one
  log line, not a traceback.

The serving/ package has a server of its own; mtask_tf does not import it.
"""

import http.server
import io
import logging
import re
import sys
import threading
import time

from mtask_tf.errors import UserError

logger = logging.getLogger(__name__)
MAX_BODY = 1 << 20
_LENGTH = re.compile(r"[0-9]{1,18}")


class RequestError(UserError):
    """A request the server cannot answer; `status` is the HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def body_length(headers, required):
    """The body's length from `Content-Length`; RequestError (400, 411 or 413) if unusable."""
    if headers.get("Transfer-Encoding"):
        raise RequestError("send the body with a Content-Length (chunked bodies are refused)", 411)
    values = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if not values:
        if required:
            raise RequestError("a Content-Length header is required", 411)
        return 0
    if len(values) != 1 or not _LENGTH.fullmatch(next(iter(values))):
        shown = ", ".join(sorted(values))[:40]
        raise RequestError(f"Content-Length {shown!r} is not a length in bytes")
    length = int(values.pop())
    if length > MAX_BODY:
        raise RequestError(f"request body too large ({length} bytes; at most {MAX_BODY})", 413)
    return length


class _DeadlineReader(io.RawIOBase):
    """Reads the socket until `deadline` (time.monotonic()), then raises TimeoutError."""

    def __init__(self, sock):
        self.sock, self.deadline, self.expired = sock, float("inf"), False

    def readable(self):
        return True

    def readinto(self, buffer):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(min(remaining, 3600))
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            self.expired = True
            raise


class Handler(http.server.BaseHTTPRequestHandler):
    """Reads requests against the server's deadlines; subclasses read bodies with `read_body`."""

    def setup(self):
        super().setup()
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self):
        self._reader.deadline = time.monotonic() + self.server.header_timeout
        self._reader.expired = False
        self._replied = False
        super().handle_one_request()  # logs and closes on TimeoutError
        if self._reader.expired and not self._replied:
            self.close_connection = True
            self.send_bytes(408, b'{"error": "request timed out"}', "application/json")

    def read_body(self, required):
        """The request body (b"" if none), within the body deadline; RequestError if unusable."""
        try:
            length = body_length(self.headers, required)
        except RequestError:
            self.close_connection = True  # the body, if any, is left unread
            raise
        self._reader.deadline = time.monotonic() + self.server.body_timeout
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise RequestError(f"the body ended after {len(body)} of {length} bytes")
        return body

    def send_bytes(self, status, data, content_type):
        self._replied = True
        self.connection.settimeout(self.server.write_timeout)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002  the base class's name
        logger.debug("%s %s", self.address_string(), format % args)


_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: 50\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b'{"error": "too many connections, try again soon"}\n'
)


class BoundedServer(http.server.HTTPServer):
    """An HTTP server with a thread per connection, at most `max_connections` of them."""

    request_queue_size = 128

    def __init__(self, address, handler, max_connections=64, header_timeout=10.0):
        self.max_connections = max_connections
        self.header_timeout, self.body_timeout, self.write_timeout = header_timeout, 60.0, 60.0
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            return self._refuse(request)
        threading.Thread(target=self._work, args=(request, client_address), daemon=True).start()

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def _refuse(self, request):
        # On the accepting thread: nothing here may wait for the client.
        try:
            request.setblocking(False)
            request.send(_BUSY)
            request.recv(65536)  # what already arrived, so that closing sends no reset
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.info("%s: client went away (%s)", client_address[0], type(error).__name__)
        else:
            super().handle_error(request, client_address)
