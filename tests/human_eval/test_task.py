"""prepare: items from systems' responses; the task file; its errors."""

import json

import pytest

from mtask_tf.data import records
from mtask_tf.human_eval import task as task_lib
from mtask_tf.human_eval.task import TaskError

INPUTS = [("HAMLET", f"context {i}", f"message {i}") for i in range(12)]


def _evaluate_file(path, responses):
    lines = ["speaker\tcontext\tmessage\treference\tresponse"]
    lines += [f"{s}\t{c}\t{m}\tref\t{r}" for (s, c, m), r in zip(INPUTS, responses)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _monologue(path, speakers=("HAMLET",), lines=8):
    records.write_monologue(
        path,
        [records.Monologue(s, f"{s.lower()} line {i}") for s in speakers for i in range(lines)],
    )
    return path


@pytest.fixture()
def systems(tmp_path):
    base = [f"base {i}" for i in range(12)]
    mtask = [f"mtask {i}" if i >= 3 else f"base {i}" for i in range(12)]  # 3 identical
    return {
        "baseline": _evaluate_file(tmp_path / "b.tsv", base),
        "mtask_m": _evaluate_file(tmp_path / "m.tsv", mtask),
    }


def test_items_hide_the_systems_and_leave_out_identical_responses(systems, tmp_path):
    task = task_lib.build_task(
        systems,
        [("mtask_m", "baseline")],
        _monologue(tmp_path / "mono.tsv"),
        judges_per_item=3,
        seed=1,
    )
    assert task.left_out == {"mtask_m:baseline": 3} and len(task.items) == 9
    assert sorted(item.input for item in task.items) == list(range(3, 12))
    sides = [item.side_of("mtask_m") for item in task.items]
    assert "left" in sides and "right" in sides  # random order, both ways
    for item in task.items:
        shown = json.dumps(item.shown())
        assert set(item.shown()) == {"id", "examples", "context", "message", "left", "right"}
        assert "mtask_m" not in shown and "baseline" not in shown
        assert {item.left.response, item.right.response} == {
            f"mtask {item.input}",
            f"base {item.input}",
        }
        # Judges read the responses as text; the task keeps the tokens.
        readable = {item.shown()["left"], item.shown()["right"]}
        assert readable == {f"Mtask {item.input}", f"Base {item.input}"}
        assert len(item.examples) == 5 and len(set(item.examples)) == 5
        assert all(e.startswith("hamlet line") for e in item.examples)
        assert (item.context, item.message) == INPUTS[item.input][1:]


def test_the_task_file_round_trips_and_seeds_decide_everything(systems, tmp_path):
    mono = _monologue(tmp_path / "mono.tsv")
    make = lambda seed: task_lib.build_task(systems, [("mtask_m", "baseline")], mono, seed=seed)
    task_lib.write_task(make(0), tmp_path / "task.json")
    assert task_lib.read_task(tmp_path / "task.json") == make(0)
    assert make(0) == make(0) and make(0) != make(1)
    assert (
        len(task_lib.build_task(systems, [("mtask_m", "baseline")], mono, max_items=4).items) == 4
    )


def test_decode_outputs_are_read_as_well(tmp_path):
    tsv = tmp_path / "decode.tsv"
    tsv.write_text(
        "input\trank\tspeaker\tcontext\tmessage\tresponse\tscore\n"
        "1\t1\tHAMLET\tc\tm\tbest one\t-1\n1\t2\tHAMLET\tc\tm\tsecond\t-2\n"
    )
    jsonl = tmp_path / "decode.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "speaker": "HAMLET",
                "context": "c",
                "message": "m",
                "nbest": [{"response": "best one"}, {"response": "x"}],
            }
        )
        + "\n"
    )
    for path in (tsv, jsonl):
        assert task_lib.read_responses(path).rows == [("HAMLET", "c", "m", "best one")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("speaker\tcontext\tmessage\treference\n", "no 'response' column"),
        ("speaker\tcontext\tmessage\treference\tresponse\nHAMLET\tc\tm\tr\n", ":2: expected 5"),
        (
            "speaker\tcontext\tmessage\treference\tresponse\nHAMLET\tc\tm\tr\t \n",
            ":2: empty response field",
        ),
    ],
)
def test_bad_response_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(records.DataError, match=message):
        task_lib.read_responses(path)


def test_systems_must_answer_the_same_inputs_and_targets_need_enough_text(systems, tmp_path):
    other = tmp_path / "other.tsv"
    other.write_text(systems["baseline"].read_text().replace("message 4", "message four"))
    mono = _monologue(tmp_path / "mono.tsv")
    with pytest.raises(TaskError, match="response 5 answers another input"):
        task_lib.build_task(
            {"baseline": systems["baseline"], "x": other}, [("x", "baseline")], mono
        )
    with pytest.raises(TaskError, match="'HAMLET' has 3 monologue lines, 5 example texts"):
        task_lib.build_task(
            systems, [("mtask_m", "baseline")], _monologue(tmp_path / "short.tsv", lines=3)
        )
    with pytest.raises(TaskError, match="no system 'mtask_s'"):
        task_lib.build_task(systems, [("mtask_s", "baseline")], mono)


def test_a_file_that_is_not_a_task_is_refused(tmp_path):
    path = tmp_path / "task.json"
    path.write_text('{"items": []}')
    with pytest.raises(TaskError, match="not a task file"):
        task_lib.read_task(path)
    with pytest.raises(TaskError, match="cannot read"):
        task_lib.read_task(tmp_path / "missing.json")
