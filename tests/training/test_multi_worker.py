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


def _wait_for_checkpoint(model_dir, processes, logs, minimum_step, timeout=240):
    deadline = time.monotonic() + timeout
    while _last_checkpoint_step(model_dir) < minimum_step:
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            for p in processes:
                p.kill()
            raise AssertionError(
                f"no checkpoint of step {minimum_step}:\n"
                + "\n".join(log.read_text()[-3000:] for log in logs)
            )
        time.sleep(0.2)


def test_two_workers_train_one_model_and_resume_after_one_is_killed(tmp_path):
    model_dir = tmp_path / "mtask_m"
    # The first job would train stage 1 for ever (no evaluation either): it is
    # killed once a checkpoint is written.
    # One LSTM layer: the job's coordination does not depend on the model's depth.
    flags = ("--checkpoint_every=5", "--log_every=5", "--eval_every=100000", "--num_layers=1")
    processes, logs = _job(
        tmp_path, model_dir, "mtask_m", *flags, "--pretrain_max_steps=100000", name="first"
    )
    _wait_for_checkpoint(model_dir, processes, logs, minimum_step=5)
    processes[1].send_signal(signal.SIGKILL)
    codes = _wait(processes, logs)
    assert codes[0] == 1 and codes[1] == -signal.SIGKILL
    text = logs[0].read_text()
    assert "error: another worker of the job is gone" in text and "Traceback" not in text
    assert "MultiWorkerMirroredStrategy with 2 replicas" in text
    saved = _last_checkpoint_step(model_dir)

    # The same job again, now with step limits: it resumes in stage 1, which has
    # no steps left, so it goes on to stage 2 (whose SEQ2SEQ step uses the
    # restored SEQ2SEQ Adam too) and finishes.
    stage_2, end = saved, saved + 2
    limits = (f"--pretrain_max_steps={stage_2}", "--max_steps=2")
    processes, logs = _job(tmp_path, model_dir, "mtask_m", *flags, *limits, name="second")
    codes = _wait(processes, logs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n".join(t[-3000:] for t in texts)
    for text in texts:  # a job that went well ends without crash reports
        assert "CoordinationServiceError" not in text and "StartAbort" not in text, text[-3000:]
    for text in texts:
        resumed = re.search(r"resumed from step (\d+)", text)
        assert resumed and int(resumed.group(1)) == saved
        assert f"stage 2 (multitask) begins at step {stage_2}" in text
    assert f"done after {end} steps" in texts[0]
    # Only the chief wrote the model directory; the other worker's scratch is gone.
    scratch = re.search(r"this worker writes only to (\S+)", texts[1]).group(1)
    assert "writes only to" not in texts[0] and not os.path.exists(scratch)
    assert _last_checkpoint_step(model_dir) == end
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
