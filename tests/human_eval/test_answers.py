"""The answers file: append-only, on disk at once, each answer once; who judges what next."""

import json
import urllib.error
import urllib.request

import pytest

from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import crowd
from mtask_tf.human_eval import web
from mtask_tf.human_eval.answers import AnswerError
from tests.human_eval.helpers import make_task


def _add(store, judge, item, rating, answer_id):
    record = {"answer_id": answer_id, "judge": judge, "item": item, "rating": rating}
    return store.add(answers_lib.make_answer(record, store.task, "test"))


def test_answers_are_on_disk_once_and_survive_a_new_store(tmp_path):
    task = make_task(items_per_pair=3, judges_per_item=2)
    path = tmp_path / "answers.jsonl"
    store = answers_lib.AnswerStore(path, task)
    assert _add(store, "ann", "item-0001", 2, "x1") is True
    assert _add(store, "ann", "item-0001", 2, "x1") is False  # a retried request
    assert _add(store, "ann", "item-0001", 4, "x2") is True  # went back and changed it
    assert len(path.read_text().splitlines()) == 2
    again = answers_lib.AnswerStore(path, task)
    assert again.rating("ann", "item-0001") == 4
    assert _add(again, "ann", "item-0001", 4, "x2") is False


def test_a_line_cut_short_by_a_crash_is_dropped_and_not_glued_to_the_next(tmp_path):
    task = make_task(items_per_pair=3)
    path = tmp_path / "answers.jsonl"
    store = answers_lib.AnswerStore(path, task)
    _add(store, "ann", "item-0001", 1, "a")
    with open(path, "a") as f:
        f.write('{"answer_id": "b", "judge": "ann", "it')
    store = answers_lib.AnswerStore(path, task)
    _add(store, "ann", "item-0002", 5, "c")
    assert [a.answer_id for a in answers_lib.read_answers(path)] == ["a", "c"]


def test_a_judge_never_gets_an_item_twice_and_items_stop_at_their_judge_count(tmp_path):
    task = make_task(items_per_pair=3, judges_per_item=2)
    store = answers_lib.AnswerStore(tmp_path / "a.jsonl", task)
    seen = []
    while (item := store.next_item("ann")) is not None:
        seen.append(item.id)
        _add(store, "ann", item.id, 3, f"ann-{item.id}")
    assert sorted(seen) == ["item-0001", "item-0002", "item-0003"]
    assert store.progress("ann") == (3, 0)
    for item in list(task.items)[:2]:
        _add(store, "bob", item.id, 3, f"bob-{item.id}")
    assert store.next_item("cat").id == "item-0003"  # the others have their two judges
    assert store.progress("cat") == (0, 1)


@pytest.mark.parametrize(
    "record, message",
    [
        ({"judge": "a", "item": "item-0001", "rating": 3}, "answer_id: missing"),
        ({"answer_id": "x", "judge": "a", "item": "item-9", "rating": 3}, "item: no item"),
        ({"answer_id": "x", "judge": "a", "item": "item-0001", "rating": 6}, "rating: 6 is not"),
        ({"answer_id": "x", "judge": "a", "item": "item-0001", "rating": "2.5"}, "rating: '2.5'"),
        ({"answer_id": "x", "judge": "a\tb", "item": "item-0001", "rating": 3}, "judge: "),
    ],
)
def test_bad_answers_name_the_field(record, message):
    with pytest.raises(AnswerError, match=message):
        answers_lib.make_answer(record, make_task(items_per_pair=1), "test")


def test_crowdsourcing_csv_out_and_results_back_in_once(tmp_path):
    task = make_task(items_per_pair=2)
    assert crowd.export_csv(task, tmp_path / "task.csv") == 2
    header = (tmp_path / "task.csv").read_text().splitlines()[0]
    assert header == "item_id,example_1,example_2,context,message,left,right"
    results = tmp_path / "results.csv"
    results.write_text(
        "AssignmentId,WorkerId,Input.item_id,Answer.rating\n"
        "A1,w1,item-0001,2\nA2,w2,item-0001,Right much more likely the same person\n"
    )
    store = answers_lib.AnswerStore(tmp_path / "answers.jsonl", task)
    rows = crowd.read_results(results, task)
    assert [(a.judge, a.rating) for a in rows] == [("w1", 2), ("w2", 5)]
    assert sum(store.add(a) for a in rows) == 2
    assert sum(store.add(a) for a in crowd.read_results(results, task)) == 0  # imported twice
    results.write_text("WorkerId,Input.item_id,Answer.rating\nw1,item-0001,2\nw1,item-0002,9\n")
    with pytest.raises(AnswerError, match=r"results.csv:3: column Answer.rating: '9' is not"):
        crowd.read_results(results, task)
    with pytest.raises(AnswerError, match=r"results.csv:1: no column 'Worker' \(columns: "):
        crowd.read_results(results, task, judge_column="Worker")


def _post(port, endpoint, body, token="ann-token-0123456789"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{endpoint}",
        data=data,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_judging_api_on_a_loopback_port(tmp_path):
    import threading

    task = make_task(items_per_pair=2, judges_per_item=1)
    store = answers_lib.AnswerStore(tmp_path / "answers.jsonl", task)
    judges = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}
    server = web.make_server("127.0.0.1", 0, judging=web.JudgingApi(store, judges))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        status, first = _post(port, "next", {})
        assert status == 200 and (first["answered"], first["open"]) == (0, 2)
        assert first["judge"] == "ann"
        assert set(first["item"]) == {"id", "examples", "context", "message", "left", "right"}
        answer = {"answer_id": "u1", "item": first["item"]["id"], "rating": 1}
        status, reply = _post(port, "answer", answer)
        assert status == 200 and reply["recorded"] and reply["item"]["id"] != first["item"]["id"]
        assert _post(port, "answer", answer)[1]["recorded"] is False
        assert _post(port, "history", {})[1] == {"items": [first["item"]["id"]]}
        status, past = _post(port, "item", {"item": first["item"]["id"]})
        assert status == 200 and past["rating"] == 1
        bob = "bob-token-0123456789"
        assert _post(port, "item", {"item": first["item"]["id"]}, token=bob)[0] == 400
        assert _post(port, "answer", {**answer, "answer_id": "u2", "rating": 0}) == (
            400,
            {"error": "rating: 0 is not one of [1, 2, 3, 4, 5]"},
        )
        assert _post(port, "next", b"{not json")[0] == 400
        assert _post(port, "nothing", {})[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    assert len(answers_lib.read_answers(tmp_path / "answers.jsonl")) == 1
