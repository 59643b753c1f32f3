"""`python -m mtask_tf.train` end to end on a tiny data directory, in subprocesses."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing import event_accumulator

from tests.conftest import REPO
from tests.conftest import TARGETS
from tests.conftest import python_for_modules
from tests.conftest import run_module

pytestmark = pytest.mark.slow


def _train(data_dir, model_dir, variant, *extra, **kwargs):
    return run_module(
        "mtask_tf.train",
        f"--flagfile=configs/{variant}.flags",
        "--flagfile=configs/smoke.flags",
        f"--data_dir={data_dir}",
        f"--model_dir={model_dir}",
        *extra,
        **kwargs,
    )


def _tags(event_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(event_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"])


def test_mtask_m_trains_both_stages_and_writes_everything(data_dir, tmp_path):
    model_dir = tmp_path / "mtask_m"
    result = _train(data_dir, model_dir, "mtask_m", check=True)
    assert "stage 2 (multitask) begins" in result.stdout
    assert "tokens/s" in result.stdout and "ETA" in result.stdout
    for name in (
        "vocab.txt",
        "speakers.txt",
        "model.json",
        "experiment.json",
        "flags.txt",
        "best.json",
        "checkpoints/checkpoint",
        "best/checkpoint",
    ):
        assert (model_dir / name).exists(), name
    assert json.loads((model_dir / "model.json").read_text())["num_speakers"] == 6
    assert "--model=persona" in (model_dir / "flags.txt").read_text()
    assert {
        "seq2seq/loss",
        "autoencoder/loss",
        "train/tokens_per_s",
        "train/stage",
        "train/learning_rate",
    } <= _tags(model_dir / "train")
    assert {"dev/perplexity", "dev/samples", *(f"dev/perplexity/{t}" for t in TARGETS)} <= _tags(
        model_dir / "dev"
    )
    again = _train(data_dir, model_dir, "mtask_m", check=True)
    assert "training had already finished" in again.stdout


@pytest.mark.parametrize("variant", ["baseline", "reverse"])
def test_single_task_variants_train(data_dir, tmp_path, variant):
    result = _train(data_dir, tmp_path / variant, variant, check=True)
    assert "stage 2" not in result.stdout
    assert json.loads((tmp_path / variant / "experiment.json").read_text())["direction"] == (
        "reverse" if variant == "reverse" else "forward"
    )


def test_mtask_s_trains_one_model_per_target(data_dir, tmp_path):
    _train(
        data_dir,
        tmp_path / "mtask_s",
        "mtask_s",
        "--pretrain_max_steps=10",
        "--max_steps=10",
        check=True,
    )
    for target in TARGETS:
        best = json.loads((tmp_path / "mtask_s" / target / "best.json").read_text())
        assert list(best["dev"]["perplexity_by_speaker"]) == [target]


def _start(data_dir, model_dir, *extra):
    python, zygote_env = python_for_modules()
    command = [
        python,
        "-m",
        "mtask_tf.train",
        "--flagfile=configs/baseline.flags",
        "--flagfile=configs/smoke.flags",
        f"--data_dir={data_dir}",
        f"--model_dir={model_dir}",
        "--pretrain_max_steps=100000",
        "--eval_every=1000",
        "--checkpoint_every=20",
        "--patience=1000",
        *extra,
    ]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=dict(os.environ, **zygote_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_checkpoint(model_dir, process, minimum_step=20, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        index = model_dir / "checkpoints" / "checkpoint"
        if index.exists():
            steps = [
                int(line.rsplit("-", 1)[1].rstrip('"'))
                for line in index.read_text().splitlines()
                if line.startswith("all_model_checkpoint_paths")
            ]
            if steps and max(steps) >= minimum_step:
                return max(steps)
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.2)
    raise AssertionError("no checkpoint written in time")


def test_sigkill_then_same_command_resumes(data_dir, tmp_path):
    model_dir = tmp_path / "killed"
    process = _start(data_dir, model_dir)
    _wait_for_checkpoint(model_dir, process, minimum_step=40)
    process.kill()
    process.wait()
    saved = _wait_for_checkpoint(model_dir, process)
    result = _train(
        data_dir,
        model_dir,
        "baseline",
        "--pretrain_max_steps=100",
        "--eval_every=1000",
        "--checkpoint_every=20",
        check=True,
    )
    assert f"resumed from step {saved} (seq2seq stage)" in result.stdout
    assert "done after 100 steps" in result.stdout


def test_sigterm_saves_then_stops(data_dir, tmp_path):
    model_dir = tmp_path / "terminated"
    process = _start(data_dir, model_dir)
    _wait_for_checkpoint(model_dir, process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output
    assert "received SIGTERM: saved step" in output
    step = int(output.split("received SIGTERM: saved step ")[1].split(";")[0])
    assert _wait_for_checkpoint(model_dir, process, minimum_step=step) == step


def test_mirrored_strategy_on_two_logical_cpus(data_dir, tmp_path):
    # Logical devices must be set up before TensorFlow starts, hence a wrapper.
    # With attention and dropout (each replica draws its own dropout masks); the
    # paper's model trains distributed in tests/training/test_multi_worker.py.
    code = (
        "import sys, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, "
        "[tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from absl import app\nfrom mtask_tf import train\n"
        "sys.argv = ['train'] + sys.argv[1:]\napp.run(train.main)\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--flagfile=configs/mtask_m.flags",
            "--flagfile=configs/smoke.flags",
            "--flagfile=configs/attention.flags",
            f"--data_dir={data_dir}",
            f"--model_dir={tmp_path / 'mirrored'}",
            "--distribution=mirrored",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MirroredStrategy with 2 replicas" in result.stdout
    assert json.loads((tmp_path / "mirrored" / "best.json").read_text())["step"] > 0


def test_bad_input_gives_file_line_and_no_traceback(data_dir, tmp_path):
    with open(data_dir / "train.tsv", "a", encoding="utf-8") as f:
        f.write("ALICE\tonly two fields\n")
    result = _train(data_dir, tmp_path / "bad", "baseline")
    assert result.returncode == 1
    lines = len((data_dir / "train.tsv").read_text().splitlines())
    assert f"train.tsv:{lines}: expected 4" in result.stderr
    assert "Traceback" not in result.stderr
    skipped = _train(
        data_dir,
        tmp_path / "skip",
        "baseline",
        "--skip_bad_lines",
        "--pretrain_max_steps=2",
        check=True,
    )
    assert "1 bad lines skipped" in skipped.stdout


@pytest.mark.parametrize(
    "flag, message",
    [
        (
            "--targets=NOBODY",
            "'NOBODY' have no monologue rows; the targets of this data directory are: HAMLET, IAGO",
        ),
        ("--data_dir=/nonexistent", "data directory not found"),
        ("--batch_size=0", "--batch_size must be positive"),
    ],
)
def test_usage_errors_say_what_is_wrong(data_dir, tmp_path, flag, message):
    result = _train(data_dir, tmp_path / "x", "mtask_m", flag)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_restart_with_other_sizes_is_refused(data_dir, tmp_path):
    _train(data_dir, tmp_path / "m", "baseline", "--pretrain_max_steps=2", check=True)
    flags_before = (tmp_path / "m" / "flags.txt").read_text()
    result = _train(data_dir, tmp_path / "m", "baseline", "--units=32")
    assert result.returncode == 1
    assert "model.json: this model directory was started with different settings" in (result.stderr)
    lines = result.stderr.splitlines()
    assert any(line.startswith("error: ") for line in lines) and "Traceback" not in result.stderr
    # The refused run leaves the model directory's record of its flags as it was.
    assert (tmp_path / "m" / "flags.txt").read_text() == flags_before


def test_init_from_starts_stage_2_from_another_models_best_weights(trained, tmp_path):
    data_dir, baseline = trained / "data", trained / "baseline"
    start = json.loads((baseline / "best.json").read_text())
    # MTASK-S stage 2 for one target from the baseline's converged stage 1.
    mtask_s = tmp_path / "mtask_s"
    result = _train(
        data_dir,
        mtask_s,
        "mtask_s",
        "--nopretrain",
        f"--init_from={baseline}",
        "--targets=HAMLET",
        "--max_steps=4",
        "--eval_every=2",
        check=True,
    )
    assert "stage 1 (seq2seq)" not in result.stdout and "stage 2 (multitask)" in result.stdout
    # Step 0 is evaluated with the baseline's weights: its perplexity on HAMLET's dev rows.
    line = next(x for x in result.stdout.splitlines() if "initial weights from" in x)
    expected = start["dev"]["perplexity_by_speaker"]["HAMLET"]
    assert f"dev perplexity {expected:.2f}" in line
    record = json.loads((mtask_s / "HAMLET" / "best.json").read_text())
    assert record["dev"]["perplexity"] <= expected + 1e-6  # kept unless stage 2 improves
    assert json.loads((mtask_s / "HAMLET" / "experiment.json").read_text())["init_from"] == str(
        baseline
    )
    # A model of another kind is refused with the reason.
    refused = _train(data_dir, tmp_path / "m", "mtask_m", f"--init_from={baseline}")
    assert refused.returncode == 1 and "its model.json differs" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_monologue_fraction_keeps_a_seeded_subset_per_speaker():
    from mtask_tf.data import records
    from mtask_tf.training import experiment

    rows = [records.Monologue(s, f"{s} line {i}") for s in ("A", "B") for i in range(40)]
    rows.append(records.Monologue("C", "the only line"))
    tenth = experiment.sample_monologue(rows, 0.1, seed=3)
    assert [sum(r.speaker == s for r in tenth) for s in "ABC"] == [4, 4, 1]
    half = experiment.sample_monologue(rows, 0.5, seed=3)
    assert set(tenth) <= set(half) and len(half) == 41
    assert experiment.sample_monologue(rows, 0.1, seed=3) == tenth
    assert experiment.sample_monologue(rows, 1.0, seed=3) == rows
