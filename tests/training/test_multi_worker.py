"""Two `mtask_tf.train` workers on loopback ports: MultiWorkerMirroredStrategy for real."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from mtask_tf.model import model_dir as model_dir_lib
from tests.conftest import REPO
from tests.conftest import make_data_dir
from tests.conftest import python_for_modules
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow


def _start(index, ports, data, model_dir, log, variant, *flags):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    python, zygote_env = python_for_modules()
    env = dict(
        os.environ,
        **zygote_env,
        TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
    )
    with open(log, "a") as out:
        return subprocess.Popen(
            [
                python,
                "-m",
                "mtask_tf.train",
                f"--flagfile=configs/{variant}.flags",
                "--flagfile=configs/smoke.flags",
                f"--data_dir={data}",
                f"--model_dir={model_dir}",
                "--distribution=multi_worker",
                *flags,
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _job(tmp_path, model_dir, variant, *flags, name="run"):
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"{name}.worker{i}.log" for i in (0, 1)]
    data = tmp_path / "data"
    if not data.exists():
        make_data_dir(data)
    return [_start(i, ports, data, model_dir, logs[i], variant, *flags) for i in (0, 1)], logs


def _wait(processes, logs, timeout=300):
    try:
        return [p.wait(timeout) for p in processes]
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
        raise AssertionError(
            "workers did not finish:\n" + "\n".join(log.read_text()[-3000:] for log in logs)
        ) from None


def _last_checkpoint_step(model_dir):
    state = model_dir / "checkpoints" / "checkpoint"
    found = re.search(
        r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text() if state.is_file() else "", re.M
    )
    return int(found.group(1)) if found else 0


def test_two_workers_train_one_model_and_resume_after_one_is_killed(tmp_path):
    model_dir = tmp_path / "mtask_m"
    flags = (
        "--pretrain_max_steps=40",
        "--max_steps=6",
        "--checkpoint_every=10",
        "--log_every=10",
        "--eval_every=20",
    )
    processes, logs = _job(tmp_path, model_dir, "mtask_m", *flags, name="first")
    deadline = time.monotonic() + 240
    while _last_checkpoint_step(model_dir) < 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _last_checkpoint_step(model_dir) >= 20, logs[0].read_text()[-3000:]
    processes[1].send_signal(signal.SIGKILL)
    codes = _wait(processes, logs)
    assert codes[0] == 1 and codes[1] == -signal.SIGKILL
    text = logs[0].read_text()
    assert "error: another worker of the job is gone" in text and "Traceback" not in text
    assert "MultiWorkerMirroredStrategy with 2 replicas" in text
    saved = _last_checkpoint_step(model_dir)

    processes, logs = _job(tmp_path, model_dir, "mtask_m", *flags, name="second")
    codes = _wait(processes, logs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n".join(t[-3000:] for t in texts)
    for text in texts:  # a job that went well ends without crash reports
        assert "CoordinationServiceError" not in text and "StartAbort" not in text, text[-3000:]
    for text in texts:
        resumed = re.search(r"resumed from step (\d+)", text)
        assert resumed and int(resumed.group(1)) == saved
        assert "stage 2 (multitask) begins at step 40" in text
    # Only the chief wrote the model directory; the other worker's scratch is gone.
    scratch = re.search(r"this worker writes only to (\S+)", texts[1]).group(1)
    assert "writes only to" not in texts[0] and not os.path.exists(scratch)
    assert _last_checkpoint_step(model_dir) == 46
    for events in ("train", "dev"):  # one events file per run of the chief
        assert len(list((model_dir / events).glob("events.out.tfevents.*"))) == 2
    # The job's model loads and answers like any other.
    import tensorflow as tf

    from mtask_tf.decoding import responder as responder_lib

    responder = responder_lib.Responder(
        model_dir_lib.load_trained(model_dir),
        None,
        responder_lib.DecodeConfig(beam_size=3, max_length=5, responses=2),
    )
    result = responder.generate(
        tf.constant([""]), tf.constant(["good sir"]), tf.constant(["HAMLET"])
    )
    assert result["responses"].shape == (1, 2)
