"""python -m mtask_tf.enroll on the smoke-sized MTASK-M model of the `trained` fixture.

The training is mtask_tf.training.enrollment's; reading the text, writing the
model directory and the report, mtask_tf.workflows.enrollment's.
"""

import dataclasses
import json
import random
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from mtask_tf import training
from mtask_tf.data import pipeline
from mtask_tf.data import records
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.model import model_dir as model_dir_lib
from mtask_tf.training import enrollment
from mtask_tf.training import loop
from mtask_tf.workflows import enrollment as workflow
from tests.conftest import run_module
from tests.serving.conftest import Server
from tests.serving.conftest import outputs

pytestmark = pytest.mark.slow

SPEAKER = "YORICK"
# YORICK says only these words, in his own order: a distinctive way of speaking.
_WORDS = "good night sweet prince".split()


def _yorick_lines(count, seed=5):
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 7))) for _ in range(count)]


def _enroll(model_dir, output_dir, text, *flags):
    return run_module(
        "mtask_tf.enroll",
        f"--model_dir={model_dir}",
        f"--speaker={SPEAKER}",
        f"--text={text}",
        f"--output_dir={output_dir}",
        "--eval_every=25",
        "--max_steps=100",
        "--learning_rate=0.03",
        *flags,
    )


def _checkpoint_values(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir / "best"))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name.startswith("variables/")
    }


def _generate(model_dir, speakers, messages):
    config = responder_lib.DecodeConfig(beam_size=4, max_length=6, responses=4)
    responder = responder_lib.load(model_dir, None, config)
    result = responder.generate(
        tf.constant([""] * len(speakers)), tf.constant(messages), tf.constant(speakers)
    )
    return {key: result[key].numpy().tolist() for key in ("responses", "scores")}


def _source_and_lengths(model_dir):
    source = enrollment.load_source(model_dir)
    return source, pipeline.Lengths(**source.experiment.lengths)


def test_dev_triples_and_a_curve_on_an_attention_model(trained, tmp_path):
    text = tmp_path / "yorick.tsv"  # a monologue TSV: only YORICK's rows are used
    text.write_text(
        "speaker\ttext\n"
        + "".join(f"{SPEAKER}\t{line}\n" for line in _yorick_lines(60))
        + "HAMLET\tto be\n"
    )
    dev = tmp_path / "dev.tsv"
    dev.write_text(
        "speaker\tcontext\tmessage\tresponse\n"
        + "".join(f"{SPEAKER}\t\tthe night\t{line}\n" for line in _yorick_lines(12, seed=9))
    )
    source, lengths = _source_and_lengths(trained / "attention")
    config = enrollment.EnrollConfig(max_steps=100, eval_every=25, learning_rate=0.03)
    record = workflow.enroll_speaker(
        source,
        workflow.read_speaker_text(text, SPEAKER),
        tmp_path / "out",
        lengths,
        config,
        print,
        dev=workflow.read_dev(dev, SPEAKER),
        curve=[10, 1000],
    )
    assert dataclasses.asdict(record) == json.loads((tmp_path / "out/enroll.json").read_text())
    assert model_dir_lib.EnrollRecord.load(tmp_path / "out") == record
    assert record.judged_by.startswith("dev perplexity (12 triples)")
    assert record.text["rows_of_other_speakers"] == 1
    assert [p["lines"] for p in record.curve] == [10, 60]  # 1000: more than there are
    assert record.curve[-1]["after"] == record.perplexity_after
    assert record.perplexity_after < record.perplexity_before
    assert (tmp_path / "out/enroll_curve.png").stat().st_size > 1000
    assert "lines of text | perplexity" in workflow.summary(record)
    # The attention model's W_a and W_c keep their bits (only the speaker's row is
    # trained); the enrolled model decodes as the new speaker.
    assert _attention_weights(trained, tmp_path / "out")[1] == []
    assert _generate(tmp_path / "out", [SPEAKER], ["good night"])["responses"][0][0]


def _attention_weights(trained, output):
    """The attention model's attention weights, and those enrolment into `output` changed."""
    model = json.loads((output / "model.json").read_text())
    assert (model["attention"], model["dropout"]) == ("luong", 0.2)
    before, after = _checkpoint_values(trained / "attention"), _checkpoint_values(output)
    attention = [n for n in before if ".attention." in n]
    assert attention  # W_a and W_c
    return attention, [n for n in attention if after[n].tobytes() != before[n].tobytes()]


def test_adapt_decoder_on_a_seq2seq_model_is_stage_2_for_the_speaker(trained, tmp_path):
    text = tmp_path / "yorick.txt"
    text.write_text("\n".join(_yorick_lines(60)) + "\n")
    output = tmp_path / "baseline_yorick"
    source, lengths = _source_and_lengths(trained / "baseline")
    general = trained / "data/train.tsv"
    config = enrollment.EnrollConfig(max_steps=40, eval_every=20, learning_rate=0.01)
    record = workflow.enroll_decoder(
        source,
        workflow.read_speaker_text(text, SPEAKER),
        output,
        lengths,
        config,
        print,
        (records.read_triples(general)[0], general),
    )
    assert record.adapt == "decoder" and record.steps == 40
    assert record.perplexity_after < record.perplexity_before
    assert json.loads((output / "model.json").read_text())["num_speakers"] == 0
    assert (output / "speakers.txt").read_text().splitlines()[-1] == SPEAKER
    before, after = _checkpoint_values(trained / "baseline"), _checkpoint_values(output)
    decoder = [n for n in before if n.startswith("variables/decoder.")]
    assert decoder and any(after[n].tobytes() != before[n].tobytes() for n in decoder)
    assert _generate(output, [SPEAKER], ["good night"])["responses"][0][0]


def _attempt(model, speaker, text, output, adapt="speaker"):
    """What the CLI does before training: every check, in the CLI's order."""
    source = enrollment.load_source(model)
    workflow.check_request(source, speaker, output, False, adapt)
    speaker_text = workflow.read_speaker_text(text, speaker)
    lengths = pipeline.Lengths(**json.loads((model / "experiment.json").read_text())["lengths"])
    workflow.enroll_speaker(
        source, speaker_text, output, lengths, enrollment.EnrollConfig(max_steps=1), print
    )


@pytest.mark.parametrize(
    "case, expected",
    [
        ("known_speaker", "already in"),
        ("no_speaker_embeddings", "use --adapt=decoder"),
        ("empty_text", "no text"),
        ("output_is_input", "is the trained model's directory"),
        ("uncovered_text", "none of its words are in the model's vocabulary"),
        ("monologue_without_speaker", "no rows of speaker 'YORICK'"),
        ("bad_utf8", r"text.txt:2: invalid UTF-8"),
        ("one_line", "at least two are needed"),
        ("tab_in_name", "without tabs"),
        ("output_is_a_file", "out: is a file"),
    ],
)
def test_bad_requests_are_refused_and_write_nothing(trained, tmp_path, case, expected):
    text = tmp_path / "text.txt"
    text.write_text("good night sweet prince\nsweet prince\n")
    model, output, speaker = trained / "mtask_m", tmp_path / "out", SPEAKER
    if case == "known_speaker":
        speaker = "HAMLET"
    elif case == "no_speaker_embeddings":
        model = trained / "baseline"
    elif case == "empty_text":
        text.write_text("\n  \n")
    elif case == "output_is_input":
        output = model
    elif case == "uncovered_text":
        text.write_text("zzyzx qwv\nxyzzy plugh\n")
    elif case == "monologue_without_speaker":
        text.write_text("speaker\ttext\nHAMLET\tto be\n")
    elif case == "bad_utf8":
        text.write_bytes(b"good night\nsweet \xff prince\n")
    elif case == "one_line":
        text.write_text("good night\n")
    elif case == "tab_in_name":
        speaker = "YOR\tICK"
    elif case == "output_is_a_file":
        output.write_text("a file\n")
    listing = sorted(p.name for p in model.iterdir())
    with pytest.raises((enrollment.EnrollError, records.DataError), match=expected):
        _attempt(model, speaker, text, output)
    assert output == model or not output.exists() or output.read_text() == "a file\n"
    assert not output.with_name("out.partial").exists()
    assert sorted(p.name for p in model.iterdir()) == listing


def test_the_cli_reports_a_refusal_in_one_line(trained, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("good night\nsweet prince\n")
    result = run_module(
        "mtask_tf.enroll",
        f"--model_dir={trained / 'mtask_m'}",
        "--speaker=HAMLET",
        f"--text={text}",
        f"--output_dir={tmp_path / 'o'}",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: speaker 'HAMLET' is already in" in result.stderr and "--replace" in result.stderr
    assert not (tmp_path / "o").exists()


def _wait_for_version(server, model, version, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = server.rest(f"/v1/models/{model}")
        if status == 200 and any(
            v["version"] == str(version) and v["state"] == "AVAILABLE"
            for v in body["model_version_status"]
        ):
            return
        time.sleep(0.5)
    raise AssertionError(f"{model} version {version} not served:\n{server.log()}")


def test_only_the_new_speaker_row_changes_and_a_running_server_answers_as_them(trained, tmp_path):
    # One enrolment by the CLI for what it writes and how it is served (before:
    # test_only_the_new_speaker_row_changes_and_its_perplexity_falls,
    # test_existing_speakers_answer_exactly_as_before and this test, on a module
    # fixture that each test process built again).
    text = tmp_path / "yorick.txt"
    text.write_text("\n".join(_yorick_lines(80)) + "\n\n")
    output = tmp_path / "mtask_m_yorick"
    result = _enroll(trained / "mtask_m", output, text)
    assert result.returncode == 0, result.stderr

    before = _checkpoint_values(trained / "mtask_m")
    after = _checkpoint_values(output)
    assert set(before) == set(after)
    table = next(n for n in before if "speaker_embedding" in n)
    for name, value in before.items():
        if name != table:
            assert after[name].tobytes() == value.tobytes(), name
    old, new = before[table], after[table]
    assert new.shape == (old.shape[0] + 1, old.shape[1])
    assert new[:-1].tobytes() == old.tobytes()
    assert not np.allclose(new[-1], old.mean(axis=0))  # the row was trained
    speakers = (output / "speakers.txt").read_text().splitlines()
    assert speakers == (trained / "mtask_m/speakers.txt").read_text().splitlines() + [SPEAKER]
    record = json.loads((output / "enroll.json").read_text())
    assert record["perplexity_after"] < record["perplexity_before"]
    assert record["text"]["blank_lines_skipped"] == 1 and record["text"]["held_out_lines"] == 8
    assert record["text"]["vocabulary_coverage"] == 1.0
    assert (
        json.loads((output / "best.json").read_text())["dev"]["perplexity"]
        == record["perplexity_after"]
    )
    assert (
        "before enrolment (the average speaker)" in result.stdout
        and "covers 100.0%" in result.stdout
    )

    # Exported as a new version beside the trained model's, the enrolled model
    # is served by the running server: it answers as the new speaker, and the
    # speakers it had answer exactly as before.
    export = lambda model_dir: run_module(
        "mtask_tf.export",
        f"--model_dir={model_dir}",
        f"--export_base={tmp_path / 'export' / 'mtask_m'}",
        "--beam_size=4",
        "--max_length=6",
        "--responses=2",
        f"--models_config={tmp_path / 'models.config'}",
        check=True,
    )
    export(trained / "mtask_m")
    server = Server(
        tmp_path / "server.log",
        f"--model_config_file={tmp_path / 'models.config'}",
        "--file_system_poll_wait_seconds=1",
    ).wait_ready(timeout=120)
    try:
        query = {"context": [""], "message": ["good night"], "speaker": [SPEAKER]}
        status, body = server.rest("/v1/models/mtask_m:predict", {"inputs": query})
        assert status == 400 and "unknown speaker" in body["error"]
        known = {
            "context": ["the night", "", ""],
            "message": ["good sir", "my lord is it", "thou art"],
            "speaker": ["HAMLET", "ALICE", "IAGO"],
        }
        generate = lambda inputs: outputs(server.predict("mtask_m", inputs, signature="generate"))
        known_before = generate(known)
        assert known_before["responses"].shape == (3, 2)
        export(output)  # version 2 beside version 1; the server keeps running
        _wait_for_version(server, "mtask_m", 2)
        assert generate(query)["responses"].shape == (1, 2)
        for key in ("responses", "scores"):
            assert generate(known)[key].tolist() == known_before[key].tolist()
    finally:
        server.stop()


def test_an_attention_model_adapts_its_attention_with_the_decoder(trained, tmp_path):
    # (--adapt=speaker on the attention model: the curve test above.)
    text = tmp_path / "yorick.txt"
    text.write_text("\n".join(_yorick_lines(60)) + "\n")
    source, lengths = _source_and_lengths(trained / "attention")
    config = enrollment.EnrollConfig(max_steps=40, eval_every=20, learning_rate=0.03)
    general = trained / "data/train.tsv"
    record = workflow.enroll_decoder(
        source,
        workflow.read_speaker_text(text, SPEAKER),
        tmp_path / "decoder",
        lengths,
        config,
        print,
        (records.read_triples(general)[0], general),
    )
    assert record.perplexity_after < record.perplexity_before
    attention, changed = _attention_weights(trained, tmp_path / "decoder")
    assert changed == attention  # W_a and W_c are trained with the decoder


def test_the_learning_rate_is_the_flag_else_the_modes_default(tmp_path):
    source = types.SimpleNamespace(model_dir=tmp_path)
    rate = lambda adapt, given=None: workflow.learning_rate(
        source, workflow.Request("m", SPEAKER, "t", "o", adapt=adapt, learning_rate=given)
    )
    assert (rate("speaker"), rate("decoder"), rate("decoder", 0.5)) == (0.01, 1e-3, 0.5)
    # --adapt=decoder continues with the rate the model was trained with: the last
    # --learning_rate of its flags.txt (no flags.txt above: training's default).
    (tmp_path / "flags.txt").write_text("--learning_rate=0.002\n--units=8\n--learning_rate=0.004\n")
    assert (rate("speaker"), rate("decoder"), rate("decoder", 0.5)) == (0.01, 0.004, 0.5)


def test_adapt_decoder_trains_one_stage_with_the_training_default_clip_norm():
    config = enrollment.EnrollConfig(
        max_steps=40, eval_every=20, patience=2, learning_rate=0.02, batch_size=8, seed=3
    )
    assert config.train_config() == loop.TrainConfig(
        batch_size=8,
        learning_rate=0.02,
        clip_norm=5.0,
        pretrain=False,
        max_steps=40,
        eval_every=20,
        patience=2,
        checkpoint_every=20,
        log_every=20,
        seed=3,
    )
    assert training.CLIP_NORM == loop.TrainConfig().clip_norm == 5.0
