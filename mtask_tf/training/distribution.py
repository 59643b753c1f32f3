"""Distribution strategies, and which process of a multi-worker job writes the model directory.

`MultiWorkerMirroredStrategy` must exist before TensorFlow runs any op, so the
training CLI makes the strategy first (`make_strategy`) and hands it down.

In a multi-worker job every worker trains and saves at the same steps (saving
reads distributed variables, which takes every worker), but only the chief
writes the model directory: the others write into a temporary directory of
their own, removed at the end (`Place`). Every worker reads checkpoints from
the model directory, so a restarted job resumes where the chief last saved;
the model directory must be on storage every machine can read.
"""

import contextlib
import dataclasses
import os
import pathlib
import shutil
import sys
import tempfile

import tensorflow as tf

NAMES = ("none", "mirrored", "multi_worker")


def make_strategy(name):
    """The tf.distribute strategy of --distribution; call before any TensorFlow op runs."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_of(strategy):
    """(task type, task id) of this process in a multi-worker job, or None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """True for the one process that writes: a single process, the chief, or worker 0."""
    worker = worker_of(strategy)
    if worker is None:
        return True
    task_type, task_id = worker
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


@dataclasses.dataclass
class Place:
    """Where a process reads (`model_dir`) and writes (`write_dir`) a run's files."""

    model_dir: pathlib.Path
    write_dir: pathlib.Path

    @property
    def chief(self):
        return self.write_dir == self.model_dir

    def cleanup(self):
        if not self.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)


def place(model_dir, strategy):
    """The chief writes `model_dir`; any other worker a fresh temporary directory."""
    model_dir = pathlib.Path(model_dir)
    if is_chief(strategy):
        return Place(model_dir, model_dir)
    task_type, task_id = worker_of(strategy)
    return Place(model_dir, pathlib.Path(tempfile.mkdtemp(prefix=f"mtask_{task_type}{task_id}_")))


_FINISHED_BARRIER = "mtask_tf/finished"
_NEVER_SET = "mtask_tf/never_set"


def finish(strategy, timeout_seconds=600):
    """Ends a multi-worker job without a worker reporting another as crashed.

    TensorFlow's coordination service, in the chief, takes a worker that
    disconnects for a crashed one, and logs "The tasks have crashed" after a
    job that went well. So every worker waits here until all have finished;
    the chief then exits, and each other worker waits (at most
    `timeout_seconds`) until the chief's service is gone before it exits,
    with stderr closed from then on: what TensorFlow logs about losing the
    chief then is expected, not news. Call it last: the process must exit.
    """
    if worker_of(strategy) is None:
        return
    from tensorflow.python.eager import context  # the coordination service's client

    coordination = context.context()
    try:
        coordination.wait_at_barrier(_FINISHED_BARRIER, timeout_seconds * 1000)
    except tf.errors.OpError as error:
        cause = str(error.message).strip().splitlines()[0]
        raise SystemExit(
            f"error: another worker of the job did not finish ({cause}); this worker's "
            "training is done and saved"
        ) from None
    if is_chief(strategy):
        return
    # For the rest of this process: its heartbeat thread may log after the wait.
    sys.stderr.flush()
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:  # a key nobody sets: returns with an error once the chief is gone
        coordination.get_config_key_value(_NEVER_SET, timeout_seconds * 1000)
    except tf.errors.OpError:
        pass


@contextlib.contextmanager
def peer_failures(model_dir):
    """A worker that lost a peer (killed, crashed, unreachable) exits with one line saying so."""
    try:
        yield
    except tf.errors.UnavailableError as error:
        cause = str(error.message).strip().splitlines()[0]
        raise SystemExit(
            f"error: another worker of the job is gone ({cause}); start every worker "
            "again with the same command: training resumes from the last checkpoint in "
            f"{pathlib.Path(model_dir) / 'checkpoints'}"
        ) from None
