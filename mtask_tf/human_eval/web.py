"""The judging page and the talk-to-a-persona page, on the standard library's HTTP server.

    GET  /                    the judging page (pages/judge.html)
    POST /api/next            {"judge"} -> the judge's next item and progress
    POST /api/item            {"judge", "item"} -> an item the judge answered, with the rating
    POST /api/history         {"judge"} -> the items the judge answered, in order
    POST /api/answer          {"answer_id", "judge", "item", "rating"} -> stored, then /api/next
    GET  /chat                the talk-to-a-persona page (pages/chat.html); /style.css for both
    GET  /api/chat/models     the models the page offers and their speakers
    /v1/...                   passed on to the TensorFlow Serving REST API (--serving_url), so
                              the page talks to the stock binary or serving.server alike

Answers go through `AnswerStore`, on disk before the reply leaves. Errors are
`{"error": "field: problem"}` with status 400 (404 for an unknown path).
"""

import http.server
import json
import logging
import pathlib
import urllib.error
import urllib.request

from mtask_tf.errors import UserError
from mtask_tf.human_eval import answers as answers_lib

logger = logging.getLogger(__name__)
PAGES = pathlib.Path(__file__).resolve().parent / "pages"
_MAX_BODY = 1 << 20


class RequestError(UserError):
    """A request the API cannot answer; `status` is the HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class JudgingApi:
    """The judging endpoints over one task and its answers file."""

    def __init__(self, store):
        self.store = store

    def _judge(self, body):
        return answers_lib.check_judge(body.get("judge", ""))

    def next(self, body):
        judge = self._judge(body)
        item = self.store.next_item(judge)
        answered, remaining = self.store.progress(judge)
        return {"item": item and item.shown(), "answered": answered, "open": remaining}

    def item(self, body):
        judge = self._judge(body)
        rating = self.store.rating(judge, str(body.get("item", "")))
        if rating is None:
            raise RequestError(f"item: {body.get('item')!r} is not an item judge {judge} answered")
        answered, remaining = self.store.progress(judge)
        shown = self.store.task.item(body["item"]).shown()
        return {"item": shown, "rating": rating, "answered": answered, "open": remaining}

    def history(self, body):
        judge = self._judge(body)
        return {"items": [item for item, _ in self.store.answered(judge)]}

    def answer(self, body):
        answer = answers_lib.make_answer(body, self.store.task, source="web")
        recorded = self.store.add(answer)
        return {"recorded": recorded, **self.next(body)}


class ChatApi:
    """The models of the chat page, and the pass-through to TensorFlow Serving's REST API.

    Args:
        serving_url: e.g. http://127.0.0.1:8501 (stock binary or serving.server).
        models: {model name: [speaker names]}; the page offers these.
    """

    def __init__(self, serving_url, models):
        self.serving_url = serving_url.rstrip("/")
        self.models = models

    def model_list(self):
        return {"models": [{"name": n, "speakers": s} for n, s in self.models.items()]}

    def forward(self, method, path, body):
        request = urllib.request.Request(
            self.serving_url + path,
            data=body or None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError as e:
            message = f"TensorFlow Serving at {self.serving_url} is not reachable ({e})"
            return 502, json.dumps({"error": message}).encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "mtask-human-eval"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            return self._send(413, {"error": "request body too large"})
        body = self.rfile.read(length) if length else b""
        chat = self.server.chat
        if path.startswith("/v1/") and chat is not None:
            status, data = chat.forward(method, path, body)
            return self._send_bytes(status, data, "application/json")
        page = {"/": "judge.html", "/chat": "chat.html", "/style.css": "style.css"}.get(path)
        if method == "GET" and page:
            kind = "text/css" if page.endswith(".css") else "text/html; charset=utf-8"
            return self._send_bytes(200, (PAGES / page).read_bytes(), kind)
        try:
            return self._send(200, self._api(method, path, body))
        except UserError as e:
            return self._send(getattr(e, "status", 400), {"error": str(e)})

    def _api(self, method, path, body):
        chat, judging = self.server.chat, self.server.judging
        if path == "/api/chat/models" and method == "GET":
            if chat is None:
                raise RequestError("no chat models: start the server with --serving_url", 404)
            return chat.model_list()
        endpoint = path.removeprefix("/api/")
        if (
            method != "POST"
            or endpoint not in ("next", "item", "history", "answer")
            or not path.startswith("/api/")
        ):
            raise RequestError(f"not found: {method} {path}", 404)
        if judging is None:
            raise RequestError("no task: start the server with --task", 404)
        try:
            request = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError) as e:
            raise RequestError(f"the request body is not JSON ({e})") from None
        if not isinstance(request, dict):
            raise RequestError("the request body must be a JSON object")
        return getattr(judging, endpoint)(request)

    def _send(self, status, payload):
        self._send_bytes(
            status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json"
        )

    def _send_bytes(self, status, data, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002  the base class's name
        logger.debug("%s %s", self.address_string(), format % args)


def make_server(host, port, judging=None, chat=None):
    """A threading HTTP server for the pages (call `serve_forever`); port 0 picks a free one."""
    server = http.server.ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.judging, server.chat = judging, chat
    return server
