"""Shared fixtures: a tiny prepared data directory and helpers to run the CLIs."""

import atexit
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

import pytest

from mtask_tf.data import records

REPO = pathlib.Path(__file__).resolve().parent.parent
WORDS = (
    "the a to and of i you my is it that in thou me not with be your for his "
    "this but have he good night sweet prince sir lord"
).split()
GENERAL = ("ALICE", "BOB", "CAROL", "DAVE")
TARGETS = ("HAMLET", "IAGO")


# The longest tests start first, so that under pytest-xdist (make test: two
# workers) they run beside the others instead of alone at the end.
_FIRST = ("test_smoke_study_runs_end_to_end_and_resumes",)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.name not in _FIRST)


def _sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))


def make_data_dir(path, seed=0, train=200, dev=20, monologue=60):
    """Writes a small random data directory in the layout mtask_tf.prepare makes."""
    rng = random.Random(seed)
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    triple = lambda speakers: records.Triple(
        rng.choice(speakers), _sentence(rng), _sentence(rng), _sentence(rng)
    )
    records.write_triples(path / "train.tsv", [triple(GENERAL) for _ in range(train)])
    # Targets say something recognisable, so the autoencoder and persona matter.
    records.write_triples(path / "dev.tsv", [triple(TARGETS) for _ in range(dev)])
    records.write_triples(path / "test.tsv", [triple(TARGETS) for _ in range(dev)])
    records.write_monologue(
        path / "monologue.tsv",
        [records.Monologue(rng.choice(TARGETS), _sentence(rng)) for _ in range(monologue)],
    )
    return path


@pytest.fixture()
def data_dir(tmp_path):
    return make_data_dir(tmp_path / "data")


_ZYGOTE = []


def python_for_modules():
    """(interpreter, environment) that runs `-m MODULE` fast: the test zygote's shim.

    See tests/zygote.py. MTASK_TEST_ZYGOTE=0 runs every program in a fresh interpreter.
    """
    if os.environ.get("MTASK_TEST_ZYGOTE", "1") == "0":
        return sys.executable, {}
    if not _ZYGOTE:
        from tests import zygote

        directory = tempfile.mkdtemp(prefix="zygote-")
        _ZYGOTE.append(zygote.Zygote(directory))
        atexit.register(_ZYGOTE[0].stop)
    return _ZYGOTE[0].shim, _ZYGOTE[0].env()


def run_module(module, *args, env=None, timeout=300, check=False, fresh=False):
    """Runs `python -m module args` from the repository; returns the CompletedProcess.

    fresh=True: in a new interpreter, not through the test zygote.
    """
    python, zygote_env = (sys.executable, {}) if fresh else python_for_modules()
    full_env = dict(os.environ, **zygote_env, **(env or {}))
    result = subprocess.run(
        [python, "-m", module, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{module} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


# name: (variant flag file, extra flags). The attention model trains with the
# options of configs/attention.flags, in bfloat16 where the CPU has bfloat16
# instructions (float32 elsewhere, where bfloat16 is emulated and three times
# slower); it reranks with `reverse`.
_SMOKE_MODELS = {
    "baseline": ("baseline", ()),
    "mtask_m": ("mtask_m", ()),
    "reverse": ("reverse", ()),
    "attention": ("mtask_m", ("--flagfile=configs/attention.flags", "--mixed_precision=auto")),
}


def _train_smoke_models(root):
    """Two trainings at a time: the workers that wait for this fixture leave a core idle."""
    from concurrent import futures

    data = make_data_dir(root / "data")
    train = lambda name, variant, extra: run_module(
        "mtask_tf.train",
        f"--flagfile=configs/{variant}.flags",
        "--flagfile=configs/smoke.flags",
        *extra,
        f"--data_dir={data}",
        f"--model_dir={root / name}",
        "--pretrain_max_steps=10",
        "--max_steps=10",
        check=True,
    )
    with futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(train, name, *how) for name, how in _SMOKE_MODELS.items()]
        for run in runs:
            run.result()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A data directory with smoke-sized baseline, MTASK-M and reverse models.

    Layout: ROOT/data, ROOT/baseline, ROOT/mtask_m, ROOT/reverse,
    and ROOT/attention (MTASK-M with configs/attention.flags, --mixed_precision=auto).
    Built once per test run and shared by the xdist workers (the first to need it
    trains, the others wait on a file lock); tests only read it.
    """
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    root, done = shared / "trained-shared", shared / "trained-shared.done"
    with open(shared / "trained-shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # a build that failed half-way
            _train_smoke_models(root)
            done.touch()
    return root
