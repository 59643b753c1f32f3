"""The human-evaluation server against hostile clients, on loopback ports: it answers every
request with a status code and stays up.

Most tests run the server on a thread of the test process (`_Pages`); those
that need the program's own output or limits run `serve` as a subprocess.
"""

import contextlib
import ctypes
import http.server
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import task as task_lib
from mtask_tf.human_eval import web
from tests.conftest import REPO
from tests.conftest import run_module
from tests.human_eval.helpers import make_task
from tests.serving.conftest import free_port

TOKENS = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}


@contextlib.contextmanager
def _pages(tmp_path, task=None, judges=TOKENS, chat=None, **limits):
    """The pages' server on a free loopback port of this process; yields (port, store)."""
    task = task or make_task(items_per_pair=3, judges_per_item=2)
    store = answers_lib.AnswerStore(tmp_path / "answers.jsonl", task)
    judging = web.JudgingApi(store, judges)
    server = web.make_server("127.0.0.1", 0, judging=judging, chat=chat, **limits)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1], store
    finally:
        server.shutdown()
        server.server_close()


def _exchange(port, data, timeout=10):
    """Sends raw bytes, returns (status or None, body) of everything the server sent back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return _reply(s)


def _reply(s):
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 else None), body


def _request(port, method, path, body=None, token=TOKENS["ann"], **headers):
    """(status, JSON reply) of one request, with a Content-Length when there is a body."""
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.0", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines.append(f"Content-Length: {len(data)}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    status, reply = _exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    return status, json.loads(reply) if reply.startswith(b"{") else reply


def _still_up(port):
    assert _request(port, "POST", "/api/history", {}) == (200, {"items": []})


@pytest.mark.parametrize(
    "length_header, status",
    [
        ("Content-Length: -1", 400),
        ("Content-Length: abc", 400),
        ("Content-Length: 1e3", 400),
        ("Content-Length: 5\r\nContent-Length: 6", 400),
        ("Transfer-Encoding: chunked", 411),
        ("", 411),
        ("Content-Length: 1000000000000", 413),
    ],
)
def test_bodies_without_a_usable_length_get_4xx_at_once(tmp_path, length_header, status):
    with _pages(tmp_path) as (port, _):
        head = f"POST /api/next HTTP/1.1\r\nHost: 127.0.0.1\r\n{length_header}\r\n\r\n".replace(
            "\r\n\r\n\r\n", "\r\n\r\n"
        )
        # The connection stays open: a server reading to EOF would never answer.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(head.encode() + b"{}" * 100)
            readable, _, _ = select.select([s], [], [], 10)
            assert readable, "no reply while the client keeps the connection open"
            got, body = _reply(s)
        assert got == status and "error" in json.loads(body)
        _still_up(port)


def test_deeply_nested_json_gets_400(tmp_path):
    with _pages(tmp_path) as (port, _):
        for nested in (b"[" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
            status, reply = _request(port, "POST", "/api/next", nested)
            assert status == 400 and "nested too deeply" in reply["error"]
        _still_up(port)


def test_every_call_needs_a_judges_token_and_is_about_that_judge_only(tmp_path):
    with _pages(tmp_path) as (port, store):
        for token in (None, "not-a-token", TOKENS["ann"] + "x"):
            for endpoint in ("next", "item", "history", "answer"):
                status, reply = _request(port, "POST", f"/api/{endpoint}", {}, token=token)
                assert status == 403 and "link" in reply["error"]
        # A judge field must be the token's judge.
        assert _request(port, "POST", "/api/next", {"judge": "bob"})[0] == 403
        offered = _request(port, "POST", "/api/next", {})[1]["item"]["id"]
        other = next(i.id for i in store.task.items if i.id != offered)
        answer = {"answer_id": "a1", "item": other, "rating": 2}
        status, reply = _request(port, "POST", "/api/answer", answer)
        assert status == 403 and "not the item offered to judge ann" in reply["error"]
        assert _request(port, "POST", "/api/answer", {**answer, "item": offered})[0] == 200
        # Bob neither sees nor changes Ann's answer; Ann's change is kept beside the first.
        bob = TOKENS["bob"]
        assert _request(port, "POST", "/api/item", {"item": offered}, token=bob)[0] == 400
        assert _request(port, "POST", "/api/history", {}, token=bob)[1] == {"items": []}
        change = {"answer_id": "a2", "item": offered, "rating": 5}
        as_ann = {**change, "judge": "ann"}
        assert _request(port, "POST", "/api/answer", as_ann, token=bob)[0] == 403
        assert _request(port, "POST", "/api/answer", change)[0] == 200
        assert _request(port, "POST", "/api/item", {"item": offered})[1]["rating"] == 5
    lines = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [(a["judge"], a["rating"], a.get("replaces")) for a in lines] == [
        ("ann", 2, None),
        ("ann", 5, "a1"),
    ]


def test_the_judge_links_from_serve(tmp_path):
    task_path = tmp_path / "task.json"
    task_lib.write_task(make_task(items_per_pair=2), task_path)
    none = run_module("mtask_tf.human_eval", "serve", f"--task={task_path}", "--port=0", fresh=True)
    assert none.returncode == 1 and "--judges=NAME" in none.stderr
    assert "Traceback" not in none.stderr
    process, port, log = _serve_process(tmp_path, f"--task={task_path}", "--judges=ann,bob")
    try:
        links = {
            line.split()[1].rstrip(":"): line.split()[2]
            for line in log.splitlines()
            if line.startswith("  judge ")
        }
        assert set(links) == {"ann", "bob"}
        tokens = json.loads((tmp_path / "task.json.judges.json").read_text())["judges"]
        assert links["ann"] == f"http://127.0.0.1:{port}/#token={tokens['ann']}"
        assert tokens["ann"] != tokens["bob"] and len(tokens["ann"]) >= 32
        assert os.stat(tmp_path / "task.json.judges.json").st_mode & 0o077 == 0
        reply = _request(port, "POST", "/api/next", {}, token=tokens["bob"])[1]
        assert reply["judge"] == "bob"
    finally:
        _stop(process)
    # Naming the judges again keeps their links.
    _stop(_serve_process(tmp_path, f"--task={task_path}", "--judges=bob,ann,cat")[0])
    again = json.loads((tmp_path / "task.json.judges.json").read_text())["judges"]
    assert again == {**tokens, "cat": again["cat"]}


def test_requests_from_other_sites_and_for_other_hosts_get_403(tmp_path):
    with _pages(tmp_path) as (port, _):
        csrf = dict(Origin="http://evil.example", Content_Type="text/plain")
        status, reply = _request(port, "POST", "/api/next", {}, **csrf)
        assert status == 403 and "evil.example" in reply["error"]
        cross = dict(Sec_Fetch_Site="cross-site")
        assert _request(port, "POST", "/api/next", {}, **cross)[0] == 403
        assert _request(port, "POST", "/api/next", {}, Origin="null")[0] == 403
        rebound = b"GET / HTTP/1.0\r\nHost: attacker.example:8080\r\n\r\n"
        assert _exchange(port, rebound)[0] == 403
        own = dict(Origin=f"http://127.0.0.1:{port}", Sec_Fetch_Site="same-origin")
        assert _request(port, "POST", "/api/next", {}, **own)[0] == 200
        local = f"GET / HTTP/1.0\r\nHost: localhost:{port}\r\n\r\n".encode()
        assert _exchange(port, local)[0] == 200


def test_judges_per_item_holds_under_concurrent_answers(tmp_path):
    judges = {f"j{i}": f"token-of-judge-{i:04d}" for i in range(12)}
    task = make_task(items_per_pair=1, judges_per_item=3)
    with _pages(tmp_path, task=task, judges=judges) as (port, store):
        for token in judges.values():
            assert _request(port, "POST", "/api/next", {}, token=token)[1]["item"] is not None
        statuses = []
        start = threading.Barrier(len(judges))

        def answer(judge, token):
            start.wait()
            body = {"answer_id": judge, "item": "item-0001", "rating": 3}
            statuses.append(_request(port, "POST", "/api/answer", body, token=token)[0])

        threads = [threading.Thread(target=answer, args=pair) for pair in judges.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200] * 3 + [409] * 9
        assert len(store) == 3
    assert len((tmp_path / "answers.jsonl").read_text().splitlines()) == 3


class _Upstream(http.server.BaseHTTPRequestHandler):
    """TensorFlow Serving's stand-in: answers every path; /v1/models/moved redirects."""

    def do_GET(self):
        self.server.paths.append(self.path)
        if self.path.startswith("/v1/models/moved"):
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def _upstream(redirect_to=""):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.paths, server.redirect_to = [], redirect_to
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def test_the_chat_proxy_passes_on_only_model_paths_and_follows_no_redirect(tmp_path):
    secret = _upstream()
    upstream = _upstream(f"http://127.0.0.1:{secret.server_address[1]}/secret")
    chat = web.ChatApi(f"http://127.0.0.1:{upstream.server_address[1]}", {"toy": ["A"]})
    try:
        with _pages(tmp_path, chat=chat) as (port, _):
            status, reply = _request(port, "POST", "/v1/models/toy:predict", {"instances": []})
            assert (status, reply) == (200, {"path": "/v1/models/toy:predict"})
            assert _request(port, "GET", "/v1/models/toy/versions/3/metadata")[0] == 200
            for path in (
                "/v1/../../etc/passwd",
                "/v1/models/toy/../../../secret",
                "/v1/models/%2e%2e/secret",
                "/v1/models/..:predict",
                "/v1//models/toy",
                "/v1/models/toy:predict/../x",
                "/v1/models/to\x01y:predict",
                "/v1/models/to\x7fy",
            ):
                status, reply = _request(port, "GET", path)
                assert status == 400 and "not a TensorFlow Serving model path" in reply["error"]
            status, reply = _request(port, "POST", "/v1/models/moved:predict", {})
            assert status == 502 and "redirected" in reply["error"]
            _still_up(port)
        assert secret.paths == []
        assert upstream.paths == [
            "/v1/models/toy:predict",
            "/v1/models/toy/versions/3/metadata",
            "/v1/models/moved:predict",
        ]
    finally:
        for server in (secret, upstream):
            server.shutdown()
            server.server_close()


def test_csv_export_neutralises_formulas(tmp_path):
    task = make_task(items_per_pair=1)
    item = task.items[0]
    formula = task_lib.Side(item.left.system, '=HYPERLINK("http://evil","click")')
    task = task_lib.Task(
        (task_lib.Item(**{**vars(item), "left": formula, "context": "-2+3", "message": "@cmd"}),),
        task.judges_per_item,
        task.settings,
        task.left_out,
    )
    task_lib.write_task(task, tmp_path / "task.json")
    run_module(
        "mtask_tf.human_eval",
        "export_csv",
        f"--task={tmp_path / 'task.json'}",
        f"--output={tmp_path / 'task.csv'}",
        check=True,
        fresh=True,
    )
    import csv

    with open(tmp_path / "task.csv", newline="") as f:
        header, row = list(csv.reader(f))
    cells = dict(zip(header, row))
    assert cells["left"].startswith("'=") and cells["left"][1:].lower().startswith("=hyperlink")
    assert (cells["context"], cells["message"]) == ("'-2+3", "'@cmd")
    assert cells["right"][0] not in "=+-@'" and cells["example_1"] == "one"


def test_bad_answers_files_and_paths_are_errors_at_start_up(tmp_path):
    task = make_task(items_per_pair=2)
    task_lib.write_task(task, tmp_path / "task.json")
    answers = tmp_path / "answers.jsonl"
    store = answers_lib.AnswerStore(answers, task)
    store.add(answers_lib.Answer("x1", "ann", "item-0001", 2))
    good = answers.read_bytes()
    answers.write_bytes(good + good.replace(b"x1", b"x\xff"))
    (tmp_path / "a-file").write_text("")
    for path, message in (
        (answers, f"{answers}:2: not UTF-8 (byte 0xff at column 17)"),
        (tmp_path / "a-file" / "answers.jsonl", "a-file is a file, not a directory"),
        (tmp_path, "the answers file is not a regular file"),
    ):
        result = run_module(
            "mtask_tf.human_eval",
            "serve",
            f"--task={tmp_path / 'task.json'}",
            f"--answers={path}",
            "--judges=ann",
            "--port=0",
            fresh=True,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
        assert message in result.stderr


def test_ids_with_lone_surrogates_get_400(tmp_path):
    with _pages(tmp_path) as (port, _):
        offered = _request(port, "POST", "/api/next", {})[1]["item"]["id"]
        for endpoint, body in (
            *((e, b'{"judge": "\\ud800"}') for e in ("next", "item", "history", "answer")),
            ("item", b'{"item": "\\udc00"}'),
            ("answer", b'{"item": "\\udc00", "answer_id": "s1", "rating": 1}'),
            ("answer", b'{"item": "%s", "answer_id": "\\ud800", "rating": 1}' % offered.encode()),
        ):
            status, reply = _request(port, "POST", f"/api/{endpoint}", body)
            assert status == 400 and "error" in reply, (endpoint, body, reply)
        _still_up(port)
    assert not (tmp_path / "answers.jsonl").exists()


def _serve_process(tmp_path, *flags, preexec_fn=None):
    """`serve` in a fresh interpreter (so that `preexec_fn` limits it); returns (process, port,
    output so far) once it is ready."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mtask_tf.human_eval", "serve", f"--port={port}", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=preexec_fn,
    )
    output = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("ready"):
            return process, port, "".join(output)
    process.wait(timeout=30)
    raise AssertionError(f"serve did not start:\n{''.join(output)}")


def _stop(process):
    """Stops `serve`; returns the rest of its output."""
    process.terminate()
    rest = process.stdout.read()
    process.wait(timeout=30)
    return rest


def test_a_full_disk_gets_a_5xx_reply_and_nothing_half_written(tmp_path):
    task = make_task(items_per_pair=3, judges_per_item=7)
    task_lib.write_task(task, tmp_path / "task.json")
    answers = tmp_path / "task.json.answers.jsonl"
    store = answers_lib.AnswerStore(answers, task)
    for judge in ("x1", "x2", "x3"):
        store.add(answers_lib.Answer(f"{judge}-1", judge, "item-0001", 3, "2026-01-01T00:00:00Z"))
    before = answers.read_bytes()
    limit = len(before) + 40  # the file may grow by less than one answer line

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process, port, output = _serve_process(
        tmp_path, f"--task={tmp_path / 'task.json'}", "--judges=ann", preexec_fn=small_files
    )
    try:
        token = json.loads((tmp_path / "task.json.judges.json").read_text())["judges"]["ann"]
        offered = _request(port, "POST", "/api/next", {}, token=token)[1]["item"]["id"]
        answer = {"answer_id": "ann-1", "item": offered, "rating": 4}
        status, reply = _request(port, "POST", "/api/answer", answer, token=token)
        assert status == 503 and "not recorded" in reply["error"], (status, reply)
        assert answers.read_bytes() == before
        # Nothing was recorded: the same answer is refused the same way, and the server is up.
        assert _request(port, "POST", "/api/answer", answer, token=token)[0] == 503
        assert _request(port, "POST", "/api/next", {}, token=token)[1]["answered"] == 0
    finally:
        _stop(process)
    assert answers.read_bytes() == before


def _obeying_file_permissions():
    """preexec_fn: a root process gives up ignoring file permissions (others obey them anyway).

    Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so the
    program it executes runs without them: a directory of mode 0o555 is then
    read-only to it, as to any user's.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_answers_directory_is_refused_at_start_and_answered_503_later(tmp_path):
    directory = tmp_path / "study"
    directory.mkdir()
    task_lib.write_task(make_task(items_per_pair=3), directory / "task.json")
    answers = directory / "task.json.answers.jsonl"
    directory.chmod(0o555)
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "mtask_tf.human_eval", "serve", f"--port={free_port()}"]
            + [f"--task={directory / 'task.json'}", "--judges=ann"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_obeying_file_permissions,
        )
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert f"{directory}" in refused.stderr and "not writable" in refused.stderr
    finally:
        directory.chmod(0o755)
    # Writable at start, read-only by the time a judge answers.
    process, port, _ = _serve_process(
        tmp_path,
        f"--task={directory / 'task.json'}",
        "--judges=ann",
        preexec_fn=_obeying_file_permissions,
    )
    try:
        token = json.loads((directory / "task.json.judges.json").read_text())["judges"]["ann"]
        offered = _request(port, "POST", "/api/next", {}, token=token)[1]["item"]["id"]
        answer = {"answer_id": "ann-1", "item": offered, "rating": 4}
        directory.chmod(0o555)
        status, reply = _request(port, "POST", "/api/answer", answer, token=token)
        assert status == 503 and "not recorded" in reply["error"], (status, reply)
        assert not answers.exists()
        directory.chmod(0o755)  # Writable again: the same answer is recorded once.
        assert _request(port, "POST", "/api/answer", answer, token=token)[0] == 200
        assert _request(port, "POST", "/api/next", {}, token=token)[1]["answered"] == 1
    finally:
        directory.chmod(0o755)
        _stop(process)
    assert len(answers.read_text().splitlines()) == 1


def test_a_client_going_away_is_one_log_line_at_most(tmp_path):
    task_lib.write_task(make_task(items_per_pair=2), tmp_path / "task.json")
    process, port, _ = _serve_process(tmp_path, f"--task={tmp_path / 'task.json'}", "--judges=ann")
    resets = 20
    try:
        for _ in range(resets):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /api/next HTTP/1.0\r\nContent-Length: 100\r\n\r\n{")
            # Closing with SO_LINGER 0 resets the connection mid-body.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        assert _request(port, "POST", "/api/next", {}, token=None)[0] == 403
    finally:
        log = _stop(process)
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith("stopped")]
    assert len(lines) <= resets


def test_the_listen_backlog_is_at_least_128(tmp_path):
    with _pages(tmp_path) as (port, _):
        listing = subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        _, _, backlog, *_ = listing  # State Recv-Q Send-Q(the backlog) Local Peer
        assert int(backlog) >= 128


def test_connections_beyond_the_limit_get_503_and_the_server_recovers(tmp_path):
    with _pages(tmp_path, max_connections=4, header_timeout=60) as (port, _):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
        status, reply = _request(port, "POST", "/api/next", {})
        assert status == 503 and "too many connections" in reply["error"]
        for s in idle:
            s.close()
        for _ in range(100):  # the four threads end as they see the connections close
            if (status := _request(port, "POST", "/api/history", {})[0]) != 503:
                break
            time.sleep(0.05)
        assert status == 200


def test_a_request_head_sent_a_line_at_a_time_still_has_one_deadline(tmp_path):
    with _pages(tmp_path, header_timeout=0.5) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n")
            for line in range(100):  # 10 s at most; the deadline ends it after ~5 lines
                if select.select([s], [], [], 0.1)[0]:
                    break
                try:
                    s.sendall(f"X-Slow-{line}: x\r\n".encode())
                except OSError:
                    break
            else:
                pytest.fail("the server waited for 100 header lines sent over 10 s")
            status, body = _reply(s)
        assert status == 408 and b"timed out" in body
        _still_up(port)
