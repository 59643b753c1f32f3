"""The runner's scheduling with real subprocesses: order, concurrency, failure, resumption."""

import json
import sys

import pytest

from mtask_tf.study import runner as runner_lib
from mtask_tf.study import steps as steps_lib

# Each step appends "start NAME THREADS" and, a moment later, "end NAME".
_SCRIPT = (
    "import os, sys, time; log = open(sys.argv[1], 'a'); "
    "log.write(f\"start {sys.argv[2]} {os.environ.get('TF_NUM_INTRAOP_THREADS', '-')}\\n\"); "
    "log.flush(); time.sleep(float(sys.argv[3])); log.write(f'end {sys.argv[2]}\\n'); "
    "sys.exit(int(sys.argv[4]))"
)


def _step(events, name, after=(), seconds=1.5, code=0):
    return steps_lib.Step(
        name,
        f"step {name}",
        [sys.executable, "-c", _SCRIPT, str(events), name, str(seconds), str(code)],
        "prepare",
        after=tuple(after),
    )


def _events(path):
    return [line.split() for line in path.read_text().splitlines()]


def _graph(events):
    return [
        _step(events, "a"),
        _step(events, "b", ["a"]),
        _step(events, "c", ["a"]),
        _step(events, "d", ["b", "c"]),
    ]


def test_two_jobs_run_independent_steps_together_and_wait_for_inputs(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)  # make test sets it
    events = tmp_path / "events"
    runner_lib.Runner(_graph(events), tmp_path / "work", lambda m: None, jobs=2).run()
    lines = _events(events)
    order = [(kind, name) for kind, name, *_ in lines]
    assert order[:2] == [("start", "a"), ("end", "a")]
    # b and c overlap (both start before either ends); d starts after both end.
    assert {order[2], order[3]} == {("start", "b"), ("start", "c")}
    assert order[-2:] == [("start", "d"), ("end", "d")]
    threads = {name: rest[0] for kind, name, *rest in lines if kind == "start"}
    # A step running alone gets every core; two together get a share each.
    assert threads["a"] == threads["d"] == "-"
    assert threads["b"] == threads["c"] != "-"
    markers = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "work/steps").glob("*.json")}
    assert set(markers) == {"a", "b", "c", "d"} and markers["b"]["jobs"] == 2


def test_one_job_runs_the_steps_in_order(tmp_path):
    events = tmp_path / "events"
    runner_lib.Runner(_graph(events), tmp_path / "work", lambda m: None).run()
    assert [(k, n) for k, n, *_ in _events(events)] == [
        (k, n) for n in "abcd" for k in ("start", "end")
    ]


def test_a_failed_step_stops_the_others_and_the_rerun_skips_finished_ones(tmp_path):
    events, work = tmp_path / "events", tmp_path / "work"
    steps = [
        _step(events, "a"),
        _step(events, "slow", ["a"], seconds=30),
        _step(events, "bad", ["a"], seconds=0.2, code=3),
        _step(events, "last", ["slow", "bad"]),
    ]
    with pytest.raises(runner_lib.StudyError, match=r"step bad failed \(exit 3\).*bad.log"):
        runner_lib.Runner(steps, work, lambda m: None, jobs=2).run()
    names = [n for k, n, *_ in _events(events) if k == "start"]
    assert names.count("a") == 1 and "last" not in names
    assert not (work / "steps/slow.json").exists()  # stopped, so not done
    assert (work / "steps/a.json").exists()
    steps[2] = _step(events, "bad", ["a"], seconds=0.2)
    steps[1] = _step(events, "slow", ["a"], seconds=0.2)
    runner_lib.Runner(steps, work, lambda m: None, jobs=2).run()
    names = [n for k, n, *_ in _events(events) if k == "start"]
    assert names.count("a") == 1 and names[-1] == "last"


def _commit(repo, text):
    import subprocess

    (repo / "file.txt").write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "file.txt"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", text], check=True, capture_output=True)
    head = ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]
    return subprocess.run(head, check=True, capture_output=True, text=True).stdout.strip()


def test_each_step_records_the_commits_it_ran_at(tmp_path, monkeypatch):
    # A step stopped at one commit and continued at the next records both.
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    first = _commit(repo, "one")
    monkeypatch.chdir(repo)
    events, work = tmp_path / "events", tmp_path / "work"
    steps = [
        _step(events, "a"),
        _step(events, "slow", ["a"], seconds=30),
        _step(events, "bad", ["a"], seconds=0.2, code=3),
    ]
    with pytest.raises(runner_lib.StudyError):
        runner_lib.Runner(steps, work, lambda m: None, jobs=2).run()
    second = _commit(repo, "two")
    steps[1:] = [
        _step(events, "slow", ["a"], seconds=0.2),
        _step(events, "bad", ["a"], seconds=0.2),
    ]
    runner_lib.Runner(steps, work, lambda m: None, jobs=2).run()
    markers = {p.stem: json.loads(p.read_text()) for p in (work / "steps").glob("*.json")}
    assert markers["a"]["commits"] == [first]
    assert markers["slow"]["commits"] == [first, second]
    assert markers["bad"]["commits"] == [first, second]
    assert not list((work / "steps").glob("*.commits"))  # folded into the records


def test_a_step_needing_an_unknown_step_is_refused(tmp_path):
    with pytest.raises(ValueError, match="step b needs unknown step"):
        runner_lib.Runner([_step(tmp_path / "e", "b", ["nope"])], tmp_path / "w", print)


def test_the_study_steps_name_what_they_need():
    from mtask_tf.study import protocol as protocol_lib

    protocol = protocol_lib.load("configs/study/friends.toml")
    by_name = {s.name: s for s in steps_lib.build(protocol, "runs/x", python="python")}
    assert by_name["train_mtask_s"].after == ("train_baseline",)
    assert by_name["train_mtask_m"].after == ("train_persona",)
    assert set(by_name["train_control"].after) == {"train_baseline", "train_mtask_m"}
    assert set(by_name["tune_mtask_m"].after) == {"train_mtask_m", "train_reverse"}
    for split in ("dev", "test"):
        assert by_name[f"evaluate_main_{split}"].after == (
            "tune_baseline",
            "tune_mtask_s",
            "tune_mtask_m",
        )
    names = list(by_name)
    for step in by_name.values():  # The list order is one the steps can run in.
        assert all(names.index(n) < names.index(step.name) for n in step.after)


def test_a_step_record_round_trips_and_a_broken_one_names_its_file(tmp_path):
    record = runner_lib.StepRecord(
        name="a", command=["python", "-m", "x"], seconds=3.5, commits=["c1"], kind="train", units=7
    )
    record.save(tmp_path / "a.json")
    assert runner_lib.StepRecord.load(tmp_path / "a.json") == record
    # A marker of an older runner, without the fields added since, still loads.
    (tmp_path / "old.json").write_text('{"name": "b", "command": [], "seconds": 2.0}')
    assert runner_lib.StepRecord.load(tmp_path / "old.json").jobs == 1
    info = runner_lib.RunInfo(steps=(record, runner_lib.StepRecord.load(tmp_path / "old.json")))
    assert info.total_seconds == 5.5 and runner_lib.RunInfo().total_seconds is None
    (tmp_path / "bad.json").write_text('{"name": ')
    with pytest.raises(runner_lib.StudyError, match=r"bad.json:1: not valid JSON"):
        runner_lib.StepRecord.load(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text('{"seconds": 1}')
    with pytest.raises(runner_lib.StudyError, match="odd.json: not a step record"):
        runner_lib.StepRecord.load(tmp_path / "odd.json")
