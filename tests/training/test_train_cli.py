"""`python -m mtask_tf.train` end to end on a tiny data directory, in subprocesses."""

import json
import os
import pathlib
import re
import signal
import subprocess
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


# Steps enough for every output of a run: a progress line (and its summaries),
# a dev evaluation and a checkpoint in each stage. One LSTM layer: what a run
# writes does not depend on the depth, and a smaller graph traces faster (the
# layers themselves: tests/model; two-layer models train by the CLI in the
# `trained` fixture and in test_mtask_s_trains_one_model_per_target_...).
_FEW_STEPS = (
    "--num_layers=1",
    "--pretrain_max_steps=4",
    "--max_steps=4",
    "--eval_every=4",
    "--log_every=2",
    "--checkpoint_every=2",
)


def test_mtask_m_trains_both_stages_and_writes_everything(data_dir, tmp_path):
    # A malformed training line, skipped and counted (the error it is without
    # --skip_bad_lines: test_bad_input_gives_file_line_and_no_traceback).
    with open(data_dir / "train.tsv", "a", encoding="utf-8") as f:
        f.write("ALICE\tonly two fields\n")
    model_dir = tmp_path / "mtask_m"
    # With the encoder options beyond the paper: both stages and decoding run them.
    options = ("--bidirectional", "--attention=luong")
    command = (data_dir, model_dir, "mtask_m", "--skip_bad_lines", *options, *_FEW_STEPS)
    result = _train(*command, check=True)
    assert "1 bad lines skipped" in result.stdout
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
    model_config = json.loads((model_dir / "model.json").read_text())
    assert model_config["num_speakers"] == 6 and model_config["bidirectional"] is True
    saved = _variables(model_dir)
    for encoder in ("encoder", "autoencoder_encoder"):
        assert f"variables/{encoder}..backward_lstm..kernel_0/.ATTRIBUTES/VARIABLE_VALUE" in saved
    decoded = tmp_path / "decoded.tsv"
    run_module(
        "mtask_tf.decode",
        f"--model_dir={model_dir}",
        f"--input={data_dir / 'dev.tsv'}",
        f"--output={decoded}",
        "--beam_size=2",
        "--max_length=4",
        check=True,
    )
    rows = [line.split("\t") for line in decoded.read_text().splitlines()[1:]]
    assert rows and all(row[5] for row in rows)
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
    again = _train(*command, check=True)
    assert "training had already finished" in again.stdout

    # A restart with other sizes is refused, and leaves the model directory's
    # record of its flags as it was.
    flags_before = (model_dir / "flags.txt").read_text()
    refused = _train(*command, "--units=32")
    assert refused.returncode == 1
    assert "model.json: this model directory was started with different settings" in (
        refused.stderr
    )
    lines = refused.stderr.splitlines()
    assert any(line.startswith("error: ") for line in lines) and "Traceback" not in refused.stderr
    assert (model_dir / "flags.txt").read_text() == flags_before


def _variables(model_dir):
    import tensorflow as tf

    return [name for name, _ in tf.train.list_variables(model_dir / "checkpoints")]


@pytest.mark.parametrize("variant", ["baseline", "reverse"])
def test_single_task_variants_train(trained, variant):
    # The `trained` fixture trains these by the CLI with their flag files: read
    # what they wrote instead of training them again.
    model_dir = trained / variant
    assert json.loads((model_dir / "experiment.json").read_text())["direction"] == (
        "reverse" if variant == "reverse" else "forward"
    )
    assert json.loads((model_dir / "model.json").read_text())["num_speakers"] == 0
    # Stage 1 only: the run had no autoencoder, so no stage 2 (whose model and
    # optimizer MTASK-M's checkpoint, for contrast, holds).
    assert not [name for name in _variables(model_dir) if "autoencoder" in name]
    assert "autoencoder/loss" not in _tags(model_dir / "train")
    assert json.loads((model_dir / "best.json").read_text())["stage"] == "seq2seq"
    assert [name for name in _variables(trained / "mtask_m") if "autoencoder_optimizer" in name]


def test_mixed_precision_auto_records_what_this_cpu_got(trained):
    from mtask_tf.decoding import low_precision

    # The `trained` fixture's attention model ran with --mixed_precision=auto.
    expected = "bf16" if low_precision.cpu_has_bfloat16() else "none"
    flags_text = (trained / "attention" / "flags.txt").read_text()
    assert f"--mixed_precision={expected}\n" in flags_text
    assert "--mixed_precision=auto" not in flags_text


def test_the_reverse_model_learns_the_message_from_the_response(tmp_path):
    # Messages and responses from disjoint words: a reverse model, given a
    # response, must answer with the messages' words (with the swap dropped it
    # would learn the responses' words).
    import random

    import tensorflow as tf

    from mtask_tf.data import records
    from mtask_tf.decoding import generator
    from mtask_tf.model import model_dir as model_dir_lib

    rng = random.Random(0)
    said = lambda words: " ".join(rng.choice(words) for _ in range(rng.randint(2, 5)))
    messages, responses = ("good", "night", "sweet"), ("my", "lord", "sir", "prince")
    data = tmp_path / "data"
    data.mkdir()
    rows = lambda n: [records.Triple("A", "", said(messages), said(responses)) for _ in range(n)]
    records.write_triples(data / "train.tsv", rows(200))
    records.write_triples(data / "dev.tsv", rows(20))
    records.write_monologue(data / "monologue.tsv", [records.Monologue("A", said(responses))])
    steps = ("--num_layers=1", "--pretrain_max_steps=40", "--eval_every=40", "--learning_rate=0.02")
    _train(data, tmp_path / "reverse", "reverse", "--targets=A", *steps, check=True)
    model = model_dir_lib.load_trained(tmp_path / "reverse")
    source = model.tokenizer.encode(tf.constant(["my lord", "sir prince my"])).to_tensor()
    search = generator.Generator(model.models.encoder, model.models.decoder)
    ids, lengths = search.greedy(source, tf.zeros([2], tf.int32), max_length=4)
    said_back = [t.decode().split() for t in model.tokenizer.decode(ids, lengths).numpy()]
    assert all(said_back) and set(sum(said_back, [])) <= set(messages), said_back


def test_mtask_s_trains_one_model_per_target_from_another_models_weights(trained, tmp_path):
    # MTASK-S: one model per target, each stage 2 only (--nopretrain) from the
    # baseline's converged stage 1 (--init_from), as the study trains it; then
    # exported, one SavedModel and one models.config entry per target. (Stage 1
    # followed by stage 2 in one run: test_mtask_m_trains_both_stages_and_writes_everything.)
    data_dir, baseline = trained / "data", trained / "baseline"
    start = json.loads((baseline / "best.json").read_text())
    mtask_s = tmp_path / "mtask_s"
    result = _train(
        data_dir,
        mtask_s,
        "mtask_s",
        "--nopretrain",
        f"--init_from={baseline}",
        "--max_steps=2",
        "--eval_every=2",
        check=True,
    )
    assert "stage 1 (seq2seq)" not in result.stdout and "stage 2 (multitask)" in result.stdout
    initial, run_dir = {}, None
    for line in result.stdout.splitlines():
        found = re.search(r"model directory (\S+): ", line)
        run_dir = pathlib.Path(found.group(1)) if found else run_dir
        if "initial weights from" in line:
            initial[run_dir] = line
    assert list(initial) == [mtask_s / target for target in TARGETS]
    for target in TARGETS:
        # Step 0 is evaluated with the baseline's weights: its perplexity on the target's dev rows.
        expected = start["dev"]["perplexity_by_speaker"][target]
        assert f"dev perplexity {expected:.2f}" in initial[mtask_s / target]
        record = json.loads((mtask_s / target / "best.json").read_text())
        assert list(record["dev"]["perplexity_by_speaker"]) == [target]
        assert record["dev"]["perplexity"] <= expected + 1e-6  # kept unless stage 2 improves
        experiment = json.loads((mtask_s / target / "experiment.json").read_text())
        assert experiment["init_from"] == str(baseline)
    # A model of another kind is refused with the reason.
    refused = _train(data_dir, tmp_path / "m", "mtask_m", f"--init_from={baseline}")
    assert refused.returncode == 1 and "its model.json differs" in refused.stderr
    assert "Traceback" not in refused.stderr

    config = tmp_path / "models.config"
    run_module(
        "mtask_tf.export",
        f"--model_dir={mtask_s}",
        f"--export_base={tmp_path / 'export' / 'mtask_s'}",
        "--beam_size=2",
        "--max_length=4",
        "--responses=1",
        f"--models_config={config}",
        "--config_base_path_prefix=/models",
        check=True,
    )
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
    names = [f"mtask_s_{target}" for target in TARGETS]
    assert [(c.name, c.base_path) for c in parsed.model_config_list.config] == [
        (name, f"/models/{name}") for name in names
    ]
    for name in names:
        assert (tmp_path / "export" / name / "1" / "saved_model.pb").exists()


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
        "--num_layers=1",  # as in _FEW_STEPS
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


def test_sigkill_then_same_command_resumes_and_sigterm_saves_then_stops(data_dir, tmp_path):
    model_dir = tmp_path / "interrupted"
    process = _start(data_dir, model_dir)
    _wait_for_checkpoint(model_dir, process)
    process.kill()  # no chance to save: it loses the steps since its last checkpoint
    process.stdout.read()  # end of file: the program itself is gone too
    process.wait()
    saved = _wait_for_checkpoint(model_dir, process)

    process = _start(data_dir, model_dir)  # the same command resumes there
    _wait_for_checkpoint(model_dir, process, minimum_step=saved + 20)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output
    assert f"resumed from step {saved} (seq2seq stage)" in output
    assert "received SIGTERM: saved step" in output
    step = int(output.split("received SIGTERM: saved step ")[1].split(";")[0])
    assert step >= saved + 20
    assert _wait_for_checkpoint(model_dir, process, minimum_step=step) == step
    # A resumed run that goes on to its step limit (counted from the restored
    # step) and finishes: test_two_workers_train_one_model_and_resume_after_one_is_killed
    # (tests/training/test_multi_worker.py); in process, test_trainer.py.


def test_mirrored_strategy_on_two_logical_cpus(data_dir, tmp_path):
    # Logical devices must be set up before TensorFlow starts, hence a wrapper
    # module (tests/training/mirrored_train.py; a child of the test zygote has
    # run no TensorFlow op yet). With attention and dropout (each replica draws
    # its own dropout masks); the paper's model trains distributed in
    # tests/training/test_multi_worker.py.
    result = run_module(
        "tests.training.mirrored_train",
        "--flagfile=configs/mtask_m.flags",
        "--flagfile=configs/smoke.flags",
        "--flagfile=configs/attention.flags",
        f"--data_dir={data_dir}",
        f"--model_dir={tmp_path / 'mirrored'}",
        "--distribution=mirrored",
        # Stage 2 only: its train step takes a SEQ2SEQ step too (stage 1 then
        # stage 2 distributed: tests/training/test_multi_worker.py).
        "--nopretrain",
        "--max_steps=2",
        "--eval_every=2",
        "--num_layers=1",  # as in _FEW_STEPS (dropout between layers: tests/model)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MirroredStrategy with 2 replicas" in result.stdout
    assert "stage 2 (multitask) begins at step 0" in result.stdout
    assert json.loads((tmp_path / "mirrored" / "best.json").read_text())["step"] > 0
    # The replicas' gradients are combined: two steps with each replica on half of
    # each batch give the single-device steps on the whole batches, and not what
    # one replica's halves alone give.
    step = run_module("tests.training.mirrored_step", check=True)
    result = json.loads(step.stdout.splitlines()[-1])
    assert result["replicas"] == 2 and result["rows_per_replica"] == [4, 4]
    assert result["mirrored_vs_single"] < 1e-4 < result["moved"]
    assert result["first_halves_vs_single"] > 100 * result["mirrored_vs_single"]


def test_bad_input_gives_file_line_and_no_traceback(data_dir, tmp_path):
    with open(data_dir / "train.tsv", "a", encoding="utf-8") as f:
        f.write("ALICE\tonly two fields\n")
    result = _train(data_dir, tmp_path / "bad", "baseline")
    assert result.returncode == 1
    lines = len((data_dir / "train.tsv").read_text().splitlines())
    assert f"train.tsv:{lines}: expected 4" in result.stderr
    assert "Traceback" not in result.stderr
    # --skip_bad_lines on the same line: test_mtask_m_trains_both_stages_and_writes_everything.


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
