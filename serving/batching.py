"""Server-side batching: concurrent requests to one signature run as one batch.

Each `Batcher` has one worker thread. It takes the oldest waiting request, adds
more while they fit in `max_batch_size` examples and `timeout` has not passed,
concatenates their inputs along dimension 0, runs the signature once and hands
each request its rows of every output. Model execution releases the GIL, so the
request threads and the worker do not hold each other up.
"""

import collections
import logging
import threading
import time

import numpy as np

from serving import errors

logger = logging.getLogger(__name__)


class _Task:
    def __init__(self, inputs, size):
        self.inputs = inputs
        self.size = size
        self.outputs = None
        self.error = None
        self.done = threading.Event()

    def shape_key(self):
        # Only inputs whose dimensions after the first agree can be concatenated.
        return tuple((name, value.shape[1:]) for name, value in sorted(self.inputs.items()))


class Batcher:
    """Merges concurrent calls of `run` into batches.

    Args:
      run: `{name: array [batch, ...]} -> {name: array [batch, ...]}`; may raise.
      max_batch_size: most examples in one merged batch.
      timeout_seconds: how long the oldest waiting request may wait for others;
        0 merges only requests that are already waiting.
      name: names the worker thread, for debugging.

    Example:
      batcher = Batcher(signature.run, max_batch_size=64, timeout_seconds=0.002)
      outputs = batcher.submit({"message": np.array([b"hi"], object)}, size=1)
      batcher.close()
    """

    def __init__(self, run, max_batch_size, timeout_seconds=0.0, name="batcher"):
        self._run = run
        self._max_batch_size = max_batch_size
        self._timeout = timeout_seconds
        self._queue = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name=name, daemon=True)
        self._worker.start()

    def submit(self, inputs, size):
        """Runs `inputs` (leading dimension `size`) in some batch; returns its outputs."""
        task = _Task(inputs, size)
        with self._changed:
            closed = self._closed
            if not closed:
                self._queue.append(task)
                self._changed.notify()
        if closed:
            # A request that picked this model version just before it was replaced.
            return self._run(inputs)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def close(self):
        """Runs the requests already waiting, then stops the worker."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._worker.join()

    def _work(self):
        while True:
            tasks = self._next_batch()
            if not tasks:
                return
            groups = collections.defaultdict(list)
            for task in tasks:
                groups[task.shape_key()].append(task)
            for group in groups.values():
                self._run_group(group)

    def _next_batch(self):
        with self._changed:
            while not self._queue and not self._closed:
                self._changed.wait()
            if not self._queue:
                return []
            tasks = [self._queue.popleft()]
            size = tasks[0].size
            deadline = time.monotonic() + self._timeout
            while size < self._max_batch_size:
                if self._queue:
                    if size + self._queue[0].size > self._max_batch_size:
                        break
                    tasks.append(self._queue.popleft())
                    size += tasks[-1].size
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                self._changed.wait(remaining)
            return tasks

    def _run_group(self, tasks):
        if len(tasks) > 1:
            logger.debug(
                "running %d requests (%d examples) as one batch",
                len(tasks),
                sum(task.size for task in tasks),
            )
            try:
                merged = {
                    name: np.concatenate([task.inputs[name] for task in tasks])
                    for name in tasks[0].inputs
                }
                _split(self._run(merged), tasks)
                return
            except Exception:  # noqa: BLE001
                # One bad request (e.g. an unknown speaker the graph rejects) must
                # not fail the others: run them one by one to find out whose it is.
                pass
        for task in tasks:
            try:
                task.outputs = self._run(task.inputs)
            except Exception as error:  # noqa: BLE001  handed to the request's thread
                task.error = errors.from_exception(error)
            task.done.set()


def _split(outputs, tasks):
    total = sum(task.size for task in tasks)
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != total:
            raise ValueError(
                f"output {name!r} has shape {list(value.shape)}, which does "
                f"not start with the batch size {total}"
            )
    offsets = np.cumsum([task.size for task in tasks])[:-1]
    pieces = {name: np.split(value, offsets) for name, value in outputs.items()}
    for index, task in enumerate(tasks):
        task.outputs = {name: parts[index] for name, parts in pieces.items()}
        task.done.set()
