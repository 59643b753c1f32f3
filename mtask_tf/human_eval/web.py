"""The judging page and the talk-to-a-persona page, on a bounded HTTP server (`httpd`).

    GET  /                    the judging page (pages/judge.html), opened with a judge's link
    POST /api/next            {} -> the judge's next item and progress
    POST /api/item            {"item"} -> an item the judge answered, with the rating
    POST /api/history         {} -> the items the judge answered, in order
    POST /api/answer          {"answer_id", "item", "rating"} -> stored, then /api/next
    GET  /chat                the talk-to-a-persona page (pages/chat.html); /style.css for both
    GET  /api/chat/models     the models the page offers and their speakers
    /v1/models/...            passed on to the TensorFlow Serving REST API (--serving_url), so
                              the page talks to the stock binary or serving.server alike

Every /api/ call of the judging page carries a judge's token
(`Authorization: Bearer TOKEN`, see `judges`) and is about that judge only; a
`judge` field, if given, must be theirs. Requests from another site (an
`Origin` other than the server's own) and requests for a host name that is not
the server's (DNS rebinding) get 403. Answers go through `AnswerStore`, on disk
before the reply leaves. Errors are `{"error": "field: problem"}` with status
400 (403 no or another judge's token, 404 unknown path, 409 the item has its
judges, 503 the answers file cannot be written).
"""

import ipaddress
import json
import pathlib
import re
import socket
import urllib.error
import urllib.request

from mtask_tf.errors import UserError
from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import httpd
from mtask_tf.human_eval import judges as judges_lib
from mtask_tf.human_eval.httpd import RequestError

PAGES = pathlib.Path(__file__).resolve().parent / "pages"


class JudgingApi:
    """The judging endpoints over one task, its answers file and its judges.

    Args:
        store: the `AnswerStore`.
        judges: {judge: token} (`judges.read_judges`).
    """

    def __init__(self, store, judges):
        self.store = store
        self.tokens = judges_lib.Tokens(judges)

    def judge_of(self, authorization, body):
        """The judge whose token `authorization` carries (403 if none); a `judge` in `body`
        must be theirs."""
        scheme, _, token = (authorization or "").partition(" ")
        judge = self.tokens.judge(token.strip()) if scheme.lower() == "bearer" else None
        if judge is None:
            raise RequestError("no judge's token: open the link your organiser sent you", 403)
        if "judge" in body and answers_lib.check_judge(body["judge"]) != judge:
            raise RequestError("judge: the token is not this judge's", 403)
        return judge

    def next(self, judge, body):
        item = self.store.next_item(judge)
        answered, remaining = self.store.progress(judge)
        return {
            "judge": judge,
            "item": item and item.shown(),
            "answered": answered,
            "open": remaining,
        }

    def item(self, judge, body):
        item = str(body.get("item", ""))
        rating = self.store.rating(judge, item)
        if rating is None:
            raise RequestError(f"item: {item!r} is not an item judge {judge} answered")
        answered, remaining = self.store.progress(judge)
        shown = self.store.task.item(item).shown()
        return {"item": shown, "rating": rating, "answered": answered, "open": remaining}

    def history(self, judge, body):
        return {"items": [item for item, _ in self.store.answered(judge)]}

    def answer(self, judge, body):
        answer = answers_lib.make_answer({**body, "judge": judge}, self.store.task, source="web")
        recorded = self.store.add(answer, offered_only=True)
        return {"recorded": recorded, **self.next(judge, body)}


# TensorFlow Serving's REST paths under /v1/models/NAME; names never start with a dot.
_NAME = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}"
_SERVING_PATH = re.compile(
    rf"/v1/models/{_NAME}(/versions/[0-9]{{1,18}}|/labels/{_NAME})?"
    r"(/metadata|:predict|:classify|:regress)?"
)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # urllib then raises the 3xx as an HTTPError


class ChatApi:
    """The models of the chat page, and the pass-through to TensorFlow Serving's REST API.

    Only TensorFlow Serving's model paths are passed on (400 for any other),
    and an upstream redirect is not followed (502): the pass-through reaches
    nothing but the models.

    Args:
        serving_url: e.g. http://127.0.0.1:8501 (stock binary or serving.server).
        models: {model name: [speaker names]}; the page offers these.
    """

    def __init__(self, serving_url, models):
        self.serving_url = serving_url.rstrip("/")
        self.models = models
        self._opener = urllib.request.build_opener(_NoRedirects)

    def model_list(self):
        return {"models": [{"name": n, "speakers": s} for n, s in self.models.items()]}

    def forward(self, method, path, body):
        if not _SERVING_PATH.fullmatch(path):
            shown = path[:100].encode("ascii", "backslashreplace").decode("ascii")
            raise RequestError(f"not a TensorFlow Serving model path: {shown!r}")
        request = urllib.request.Request(
            self.serving_url + path,
            data=body or None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:
                message = f"TensorFlow Serving at {self.serving_url} redirected (not followed)"
                return 502, json.dumps({"error": message}).encode("utf-8")
            return e.code, e.read()
        except OSError as e:
            message = f"TensorFlow Serving at {self.serving_url} is not reachable ({e})"
            return 502, json.dumps({"error": message}).encode("utf-8")


class _Handler(httpd.Handler):
    server_version = "mtask-human-eval"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        path = self.path.split("?", 1)[0]
        try:
            body = self.read_body(required=method == "POST")
            self._check_site(path)
            chat = self.server.chat
            if path.startswith("/v1/") and chat is not None:
                status, data = chat.forward(method, path, body)
                return self.send_bytes(status, data, "application/json")
            page = {"/": "judge.html", "/chat": "chat.html", "/style.css": "style.css"}.get(path)
            if method == "GET" and page:
                kind = "text/css" if page.endswith(".css") else "text/html; charset=utf-8"
                return self.send_bytes(200, (PAGES / page).read_bytes(), kind)
            return self._send(200, self._api(method, path, body))
        except UserError as e:
            return self._send(getattr(e, "status", 400), {"error": str(e)})

    def _check_site(self, path):
        """403 for a host name not the server's (DNS rebinding) or a request from another site."""
        host = self.headers.get("Host")
        if host is not None and not self.server.is_own_host(host):
            raise RequestError(f"Host {host[:100]!r} is not this server's", 403)
        origin, host = self.headers.get("Origin"), (host or "").lower()
        if origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}"):
            raise RequestError(f"requests from {origin[:100]!r} are refused", 403)
        site = self.headers.get("Sec-Fetch-Site", "same-origin")
        if path.startswith(("/api/", "/v1/")) and site not in ("same-origin", "none"):
            raise RequestError("requests from other sites are refused", 403)

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
            raise RequestError(f"not found: {method} {path[:100]!r}", 404)
        if judging is None:
            raise RequestError("no task: start the server with --task", 404)
        try:
            request = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError) as e:
            raise RequestError(f"the request body is not JSON ({e})") from None
        except RecursionError:
            raise RequestError("the request body is not JSON (nested too deeply)") from None
        if not isinstance(request, dict):
            raise RequestError("the request body must be a JSON object")
        judge = judging.judge_of(self.headers.get("Authorization"), request)
        return getattr(judging, endpoint)(judge, request)

    def _send(self, status, payload):
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), "application/json")


class _Server(httpd.BoundedServer):
    def __init__(self, address, judging, chat, allowed_hosts, **limits):
        super().__init__(address, _Handler, **limits)
        self.judging, self.chat = judging, chat
        names = {"localhost", socket.gethostname(), address[0], *allowed_hosts}
        self.host_names = {name.lower() for name in names if name}

    def is_own_host(self, host):
        """Whether a Host header names this server: an IP address, or a name it answers to."""
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.removeprefix("[").removesuffix("]").lower()
        if name in self.host_names:
            return True
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            return False
        return True  # an address cannot be rebound by DNS


def make_server(
    host,
    port,
    judging=None,
    chat=None,
    allowed_hosts=(),
    max_connections=64,
    header_timeout=10.0,
):
    """The pages' server (call `serve_forever`); port 0 picks a free one.

    allowed_hosts: host names besides localhost, this machine's and `host` that
    browsers may use to reach the server (e.g. behind a proxy).
    """
    return _Server(
        (host, port),
        judging,
        chat,
        allowed_hosts,
        max_connections=max_connections,
        header_timeout=header_timeout,
    )
