"""Batcher: merging, splitting, limits, error isolation and closing, on numpy functions."""

import concurrent.futures
import threading
import time

import grpc
import numpy as np

from serving import errors
from serving.batching import Batcher


class Recorder:
    """`run` for a Batcher: y = 10 x; records the batch sizes it ran with."""

    def __init__(self, hold=None):
        self.sizes = []
        self.started = threading.Event()
        self._hold = hold

    def __call__(self, inputs):
        self.sizes.append(len(inputs["x"]))
        self.started.set()
        if self._hold is not None:
            self._hold.wait(10)
        if (inputs["x"] < 0).any():
            raise errors.invalid(f"negative x in {inputs['x'].tolist()}")
        return {"y": inputs["x"] * 10, "size": np.full(len(inputs["x"]), len(inputs["x"]))}


def _submit_all(batcher, requests):
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(batcher.submit, {"x": np.array(x)}, len(x)) for x in requests]
        return [f.exception() or f.result() for f in futures]


def test_concurrent_requests_run_as_one_batch_and_get_their_own_rows():
    run = Recorder()
    batcher = Batcher(run, max_batch_size=16, timeout_seconds=0.5)
    results = _submit_all(batcher, [[i, i + 100] for i in range(4)])
    assert [r["y"].tolist() for r in results] == [[10 * i, 10 * i + 1000] for i in range(4)]
    assert run.sizes == [8]
    assert all(r["size"].tolist() == [8, 8] for r in results)
    batcher.close()


def test_batches_never_exceed_max_batch_size():
    run = Recorder()
    batcher = Batcher(run, max_batch_size=5, timeout_seconds=0.3)
    results = _submit_all(batcher, [[1, 2], [3, 4], [5, 6]])
    assert [r["y"].tolist() for r in results] == [[10, 20], [30, 40], [50, 60]]
    assert sorted(run.sizes) == [2, 4]
    batcher.close()


def test_a_failing_request_does_not_fail_the_others_in_its_batch():
    run = Recorder()
    batcher = Batcher(run, max_batch_size=16, timeout_seconds=0.3)
    results = _submit_all(batcher, [[1], [-2], [3]])
    assert results[0]["y"].tolist() == [10] and results[2]["y"].tolist() == [30]
    assert isinstance(results[1], errors.ServingError)
    assert results[1].code == grpc.StatusCode.INVALID_ARGUMENT
    assert "negative x in [-2]" in results[1].message
    assert run.sizes[0] == 3  # merged first, then run one by one
    batcher.close()


def test_without_timeout_requests_waiting_behind_a_running_batch_are_merged():
    release = threading.Event()
    run = Recorder(hold=release)
    batcher = Batcher(run, max_batch_size=16, timeout_seconds=0)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.submit, {"x": np.array([1])}, 1)
        assert run.started.wait(10)
        others = [pool.submit(batcher.submit, {"x": np.array([x])}, 1) for x in (2, 3)]
        time.sleep(0.3)
        release.set()
        assert [f.result()["y"].tolist() for f in [first, *others]] == [[10], [20], [30]]
    assert run.sizes == [1, 2]
    batcher.close()


def test_inputs_with_different_inner_shapes_run_separately():
    run = Recorder()
    batcher = Batcher(run, max_batch_size=16, timeout_seconds=0.3)
    results = _submit_all(batcher, [[[1, 2]], [[3, 4, 5]]])
    assert [r["y"].tolist() for r in results] == [[[10, 20]], [[30, 40, 50]]]
    assert run.sizes == [1, 1]
    batcher.close()


def test_close_runs_waiting_requests_at_once_and_later_ones_directly():
    run = Recorder()
    batcher = Batcher(run, max_batch_size=16, timeout_seconds=30)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(batcher.submit, {"x": np.array([1])}, 1)
        time.sleep(0.2)
        started = time.monotonic()
        batcher.close()
        assert waiting.result(timeout=5)["y"].tolist() == [10]
        assert time.monotonic() - started < 5
    assert batcher.submit({"x": np.array([2])}, 1)["y"].tolist() == [20]


def test_an_output_without_the_batch_dimension_is_an_error_not_a_wrong_split():
    def run(inputs):
        return {"total": np.array(inputs["x"].sum())}

    batcher = Batcher(run, max_batch_size=16, timeout_seconds=0.3)
    results = _submit_all(batcher, [[1], [2]])
    # Merged, the split fails; run alone, each request gets its own (scalar) output.
    assert [r["total"].tolist() for r in results] == [1, 2]
    batcher.close()
