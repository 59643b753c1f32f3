"""mtask_tf.cli: the start-up checks and error reporting every command-line module uses."""

import inspect
import json
import os
import subprocess
import sys

import pytest
from absl import app
from absl import flags

from mtask_tf import cli
from tests.conftest import REPO


class _Error(ValueError):
    pass


def _parsed(define, *args):
    """A fresh FlagValues with the flags `define(flag_values)` makes, parsed from args."""
    flag_values = flags.FlagValues()
    holders = define(flag_values)
    flag_values(["prog", *args])
    return flag_values, holders


def _text_flags(flag_values):
    return (
        flags.DEFINE_string("model_dir", None, "", flag_values=flag_values),
        flags.DEFINE_list("data", None, "", flag_values=flag_values),
        flags.DEFINE_string("output", None, "", flag_values=flag_values),
    )


def _number_flags(flag_values):
    flags.DEFINE_integer("beam_size", 50, "", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 16, "", flag_values=flag_values)
    flags.DEFINE_float("learning_rate", 1e-3, "", flag_values=flag_values)


def test_no_positional_arguments_refuses_exactly_the_extra_arguments():
    cli.no_positional_arguments(["prog"])  # The program name alone passes ...
    with pytest.raises(app.UsageError, match=r"^unexpected arguments: a b$") as raised:
        cli.no_positional_arguments(["prog", "a", "b"])  # ... and one more word does not.
    assert raised.value.exitcode == 1


def test_require_passes_with_every_value_and_fails_without_any_one():
    full = ("--model_dir=m", "--data=a.tsv,b.tsv", "--output=o")
    cli.require(*_parsed(_text_flags, *full)[1])
    for left_out in range(len(full)):
        _, holders = _parsed(_text_flags, *full[:left_out], *full[left_out + 1 :])
        with pytest.raises(app.UsageError, match=r"^--\w+ is required$"):
            cli.require(*holders)


@pytest.mark.parametrize(
    "args, missing",
    [
        (["--data=a.tsv", "--output=o"], "model_dir"),
        (["--model_dir=m", "--output=o"], "data"),
        (["--model_dir=m", "--data=", "--output=o"], "data"),  # An empty list is no value.
        (["--model_dir=", "--data=a.tsv", "--output=o"], "model_dir"),  # Nor an empty string.
        (["--model_dir=m", "--data=a.tsv"], "output"),
        ([], "model_dir"),  # The first missing one, in the order given.
    ],
)
def test_require_names_the_first_missing_flag(args, missing):
    _, holders = _parsed(_text_flags, *args)
    with pytest.raises(app.UsageError, match=rf"^--{missing} is required$"):
        cli.require(*holders)


def test_require_checks_only_the_holders_given():
    _, (model_dir, _, _) = _parsed(_text_flags, "--model_dir=m")
    cli.require(model_dir)


def test_require_positive_passes_positive_values_and_stops_at_zero():
    names = ("beam_size", "batch_size", "learning_rate")
    flag_values, _ = _parsed(_number_flags, "--beam_size=1", "--learning_rate=0.5")
    cli.require_positive(*names, flag_values=flag_values)
    flag_values, _ = _parsed(_number_flags, "--beam_size=1", "--learning_rate=0.0")
    with pytest.raises(app.UsageError, match="^--learning_rate must be positive"):
        cli.require_positive(*names, flag_values=flag_values)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam_size=0"], "--beam_size must be positive"),
        (["--batch_size=-3"], "--batch_size must be positive"),
        (["--learning_rate=0"], "--learning_rate must be positive"),
        (["--beam_size=0", "--batch_size=0"], "--beam_size must be positive"),  # The first.
    ],
)
def test_require_positive_rejects_zero_and_negative_values(args, message):
    flag_values, _ = _parsed(_number_flags, *args)
    with pytest.raises(app.UsageError) as raised:
        cli.require_positive("beam_size", "batch_size", "learning_rate", flag_values=flag_values)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch_size=-3"], "--batch_size must be positive, got -3"),
        (["--learning_rate=0"], "--learning_rate must be positive, got 0.0"),
    ],
)
def test_require_positive_can_show_the_value_given(args, message):
    flag_values, _ = _parsed(_number_flags, *args)
    with pytest.raises(app.UsageError) as raised:
        cli.require_positive(
            "beam_size", "batch_size", "learning_rate", show_value=True, flag_values=flag_values
        )
    assert str(raised.value) == message


def test_require_positive_checks_only_the_names_given():
    flag_values, _ = _parsed(_number_flags, "--batch_size=0")
    cli.require_positive("beam_size", "learning_rate", flag_values=flag_values)


def test_require_positive_reads_the_global_flags_by_default():
    # The CLIs define their flags in flags.FLAGS and pass only names.
    default = inspect.signature(cli.require_positive).parameters["flag_values"].default
    assert default is flags.FLAGS


def test_user_errors_turns_a_listed_error_into_one_error_line():
    with pytest.raises(SystemExit) as raised:
        with cli.user_errors(KeyError, _Error):
            raise _Error("data.tsv:3: empty message field")
    assert raised.value.code == "error: data.tsv:3: empty message field"
    # No "During handling of the above exception" chain.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_user_errors_catches_subclasses_and_adds_the_prefix():
    with pytest.raises(SystemExit) as raised:
        with cli.user_errors(OSError, prefix="cannot write out: "):
            raise FileNotFoundError("no such directory")
    assert raised.value.code == "error: cannot write out: no such directory"


def test_user_errors_lets_other_errors_and_success_through():
    error = RuntimeError("a bug, not a user error")
    with pytest.raises(RuntimeError) as raised:
        with cli.user_errors(_Error):
            raise error
    assert raised.value is error
    with cli.user_errors(_Error):
        done = True
    assert done


def test_nested_user_errors_give_each_type_its_prefix():
    def run(error):
        with cli.user_errors(_Error), cli.user_errors(OSError, prefix="cannot write o: "):
            raise error

    with pytest.raises(SystemExit, match=r"^error: bad line$"):
        run(_Error("bad line"))
    with pytest.raises(SystemExit, match=r"^error: cannot write o: full$"):
        run(OSError("full"))


_PROGRAM = """
import sys
from absl import app
from mtask_tf import cli

def main(argv):
    cli.no_positional_arguments(argv)
    with cli.user_errors(ValueError):
        raise ValueError("data.tsv: file not found")

app.run(main)
"""


@pytest.mark.parametrize(
    "args, returncode, stderr_end",
    [
        ([], 1, "error: data.tsv: file not found\n"),
        (["extra"], 1, "unexpected arguments: extra\n"),
    ],
)
def test_an_absl_program_exits_1_with_the_message_on_stderr(args, returncode, stderr_end):
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == returncode
    assert result.stderr.endswith(stderr_end)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- The shared decoding flags ----------------------------------------------

DECODING_CLIS = ("mtask_tf.decode", "mtask_tf.tune_mmi", "mtask_tf.evaluate", "mtask_tf.export")
DECODING_FLAGS = (
    "beam_size",
    "max_length",
    "candidates",
    "responses",
    "batch_size",
    "no_repeat_ngram_size",
    "length_penalty",
    "num_samples",
    "sampling_topk",
    "sampling_topp",
    "sampling_temperature",
    "sampling_seed",
)


def _decoding(*args, reads_mmi=True):
    flag_values = flags.FlagValues()
    holder = cli.DecodingFlags(reads_mmi=reads_mmi, flag_values=flag_values)
    flag_values(["prog", *args])
    return holder


def _help_text(module, which):
    """What `python -m MODULE --help` (or --helpfull) prints."""
    return subprocess.run(
        [sys.executable, "-m", module, which], cwd=REPO, capture_output=True, text=True, timeout=120
    ).stdout


def _flag_help(text, name):
    """The help block of --NAME (its line and the indented lines below) in --helpfull."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  --{name}:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "\n".join(lines[start:end])


def test_the_decoding_clis_show_the_same_decoding_flags():
    helps = {}
    for module in DECODING_CLIS:
        full = _help_text(module, "--helpfull")
        helps[module] = {name: _flag_help(full, name) for name in DECODING_FLAGS}
        # --help (the module's own flags) lists them too.
        short = _help_text(module, "--help")
        assert all(f"--{name}:" in short for name in DECODING_FLAGS), module
    first = helps[DECODING_CLIS[0]]
    assert "(default: '0')" in first["candidates"] and "paper's" in first["candidates"]
    for module in DECODING_CLIS[1:]:
        assert helps[module] == first, module


def test_decoding_flags_make_the_settings_and_config():
    holder = _decoding("--beam_size=8", "--max_length=7", "--responses=3")
    holder.validate()
    settings = holder.search_settings()
    assert (settings.beam_size, settings.max_length, settings.candidates) == (8, 7, None)
    config = holder.decode_config()
    assert (config.candidates, config.responses, config.mmi_lambda) == (None, 3, 0.0)
    assert holder.decode_config(responses=None).responses is None
    assert _decoding("--candidates=12", "--responses=0").decode_config().responses is None
    assert _decoding("--candidates=12").search_settings().candidates == 12


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam_size=0"], "--beam_size must be positive, got 0"),
        (["--max_length=-1"], "--max_length must be positive, got -1"),
        (["--batch_size=0"], "--batch_size must be positive, got 0"),
        (["--candidates=-2"], "--candidates must be 0 (all) or positive, got -2"),
        (["--responses=-1"], "--responses must be 0 (all) or positive, got -1"),
        (
            ["--no_repeat_ngram_size=-1"],
            "--no_repeat_ngram_size must be 0 (off) or positive, got -1",
        ),
        (
            ["--length_penalty=-0.5"],
            "--length_penalty must be 0 (off) or positive, got -0.5 "
            "(1: per-token mean log-probabilities)",
        ),
        (["--num_samples=-3"], "--num_samples must be 0 (off) or positive, got -3"),
        (
            ["--num_samples=5", "--sampling_topk=-1"],
            "--sampling_topk must be 0 (off) or positive, got -1",
        ),
        (
            ["--num_samples=5", "--sampling_topp=0"],
            "--sampling_topp must be in (0, 1], got 0.0 (1.0: off)",
        ),
        (
            ["--num_samples=5", "--sampling_topp=1.2"],
            "--sampling_topp must be in (0, 1], got 1.2 (1.0: off)",
        ),
        (
            ["--num_samples=5", "--sampling_temperature=0"],
            "--sampling_temperature must be positive, got 0.0 (1.0: the model's distribution)",
        ),
        (
            ["--sampling_topk=10"],
            "--sampling_topk applies only to sample-and-rerank: give --num_samples=N "
            "(e.g. 50) too, or drop --sampling_topk to decode with beam search",
        ),
        (
            ["--sampling_seed=3"],
            "--sampling_seed applies only to sample-and-rerank: give --num_samples=N "
            "(e.g. 50) too, or drop --sampling_seed to decode with beam search",
        ),
    ],
)
def test_decoding_flags_reject_bad_values(args, message):
    with pytest.raises(app.UsageError) as raised:
        _decoding(*args).validate()
    assert str(raised.value) == message


def test_decoding_options_reach_the_settings_and_config():
    holder = _decoding(
        "--no_repeat_ngram_size=3",
        "--length_penalty=0.5",
        "--num_samples=40",
        "--sampling_topk=20",
        "--sampling_topp=0.9",
        "--sampling_temperature=0.8",
        "--sampling_seed=5",
    )
    holder.validate()
    settings = holder.search_settings()
    assert (settings.no_repeat_ngram_size, settings.length_penalty) == (3, 0.5)
    assert (settings.num_samples, settings.sampling_topk) == (40, 20)
    assert (settings.sampling_topp, settings.sampling_temperature) == (0.9, 0.8)
    config = holder.decode_config()
    assert (config.no_repeat_ngram_size, config.length_penalty, config.num_samples) == (3, 0.5, 40)
    assert (config.sampling_topk, config.sampling_topp, config.sampling_temperature) == (
        20,
        0.9,
        0.8,
    )
    assert config.sampling_seed == 5


def _sampling(*args):
    flag_values = flags.FlagValues()
    holder = cli.SampleFlags("Rows to decode.", flag_values=flag_values)
    flag_values(["prog", *args])
    return holder


def test_sample_flags_pick_the_same_seeded_rows_in_file_order_and_refuse_negative_sizes():
    rows = list(range(50))
    holder = _sampling("--max_examples=7", "--sample_seed=3")
    holder.validate()
    picked = holder.sample(rows)
    assert len(picked) == 7 and picked == sorted(picked) and picked != rows[:7]
    assert _sampling("--max_examples=7", "--sample_seed=3").sample(rows) == picked
    assert _sampling("--max_examples=7", "--sample_seed=4").sample(rows) != picked
    assert _sampling().sample(rows) == rows  # 0: every row
    with pytest.raises(app.UsageError) as raised:
        _sampling("--max_examples=-1").validate()
    assert str(raised.value) == "--max_examples must be 0 (every row) or positive, got -1"


@pytest.mark.parametrize("module", ["mtask_tf.evaluate", "mtask_tf.tune_mmi"])
def test_the_sample_flags_are_in_the_clis_own_help(module):
    short = _help_text(module, "--help")
    assert "--max_examples:" in short and "--sample_seed:" in short, module


def _weights_file(tmp_path, **decoding):
    from mtask_tf.decoding import mmi

    path = tmp_path / "mmi.json"
    tuned_with = mmi.SearchSettings(**decoding) if decoding else None
    mmi.MmiWeights(0.5, -0.25, tuned_with).save(path)
    return path


def test_mmi_weights_tuned_with_the_same_settings_load_quietly(tmp_path, capsys):
    path = _weights_file(tmp_path, beam_size=8, max_length=7, candidates=None)
    weights = _decoding("--beam_size=8", "--max_length=7").load_mmi(path)
    assert (weights.mmi_lambda, weights.mmi_gamma) == (0.5, -0.25)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--beam_size=9", "--max_length=7"],
        ["--beam_size=8", "--max_length=6"],
        ["--beam_size=8", "--max_length=7", "--candidates=8"],
    ],
)
def test_mmi_settings_mismatch_warns_and_strict_refuses(tmp_path, capsys, args):
    from mtask_tf.decoding import mmi

    path = _weights_file(tmp_path, beam_size=8, max_length=7, candidates=None)
    weights = _decoding(*args).load_mmi(path)
    assert weights.mmi_lambda == 0.5
    err = capsys.readouterr().err
    assert (
        err.startswith("warning: the MMI weights in")
        and "tuned with beam 8, max_length 7, every candidate" in err
        and "--strict_mmi makes this an error" in err
    )
    with pytest.raises(mmi.MmiFileError, match="tuned with beam 8.*--strict_mmi"):
        _decoding(*args, "--strict_mmi").load_mmi(path)


@pytest.mark.parametrize(
    "args, differ",
    [
        (["--no_repeat_ngram_size=3"], "--no_repeat_ngram_size"),
        (["--length_penalty=1"], "--length_penalty"),
        (["--num_samples=50"], "--num_samples"),
    ],
)
def test_mmi_settings_of_the_options_mismatch_warns_and_strict_refuses(
    tmp_path, capsys, args, differ
):
    from mtask_tf.decoding import mmi

    path = _weights_file(tmp_path, beam_size=50, max_length=20, candidates=None)
    _decoding(*args).load_mmi(path)
    err = capsys.readouterr().err
    assert err.startswith("warning: the MMI weights in") and f"Use the same {differ} as" in err
    with pytest.raises(mmi.MmiFileError, match=f"Use the same {differ} as tune_mmi"):
        _decoding(*args, "--strict_mmi").load_mmi(path)


def test_mmi_settings_record_the_options_and_sampling_ignores_the_beam(tmp_path, capsys):
    from mtask_tf.decoding import mmi

    sampled = ["--num_samples=30", "--sampling_topp=0.9", "--no_repeat_ngram_size=2"]
    path = tmp_path / "mmi.json"
    mmi.MmiWeights(0.5, 0.1, _decoding(*sampled, "--length_penalty=1").search_settings()).save(path)
    record = json.loads(path.read_text())["decoding"]
    assert (record["num_samples"], record["sampling_topp"], record["length_penalty"]) == (
        30,
        0.9,
        1.0,
    )
    assert (
        mmi.MmiWeights.load(path).tuned_with
        == _decoding(*sampled, "--length_penalty=1").search_settings()
    )
    # The beam plays no part in sampling; another seed draws the same kind of list.
    _decoding(*sampled, "--length_penalty=1", "--beam_size=7", "--sampling_seed=9").load_mmi(path)
    assert capsys.readouterr().err == ""
    _decoding(*sampled, "--length_penalty=1", "--sampling_temperature=0.5").load_mmi(path)
    err = capsys.readouterr().err
    assert "top-p 0.9, temperature 1" in err and "Use the same --sampling_temperature as" in err


def test_mmi_file_from_before_the_options_means_them_off(tmp_path, capsys):
    path = tmp_path / "mmi.json"
    path.write_text(
        '{"lambda": 1, "gamma": 0, "decoding": '
        '{"beam_size": 50, "max_length": 20, "candidates": "all"}}'
    )
    _decoding().load_mmi(path)
    assert capsys.readouterr().err == ""
    _decoding("--length_penalty=1").load_mmi(path)
    assert "Use the same --length_penalty as" in capsys.readouterr().err


def test_mmi_file_without_settings_warns(tmp_path, capsys):
    path = _weights_file(tmp_path)
    _decoding().load_mmi(path)
    assert "does not record the decoding settings" in capsys.readouterr().err


def test_mmi_file_with_malformed_settings_names_the_field(tmp_path):
    from mtask_tf.decoding import mmi

    path = tmp_path / "mmi.json"
    path.write_text('{"lambda": 1, "gamma": 0, "decoding": {"beam_size": 4}}')
    with pytest.raises(mmi.MmiFileError, match=r"mmi.json: field 'decoding' must hold"):
        mmi.MmiWeights.load(path)


def _fresh_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, **env),
        timeout=120,
    )


_ADD = "import tensorflow as tf; print(int(tf.constant(1) + 1))"


def test_tensorflow_start_up_noise_is_silenced_unless_asked_for():
    # Fresh interpreters: TensorFlow prints its noise while it is imported. Quiet with
    # the toolkit's package imported first; MTASK_TF_VERBOSE=1 shows the noise, here
    # with the server's package, which imports the toolkit's (and so would lose the
    # noise if either silenced it regardless).
    quiet = _fresh_python(f"import mtask_tf; {_ADD}")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "2\n", "")
    verbose = _fresh_python(f"import serving; {_ADD}", MTASK_TF_VERBOSE="1")
    assert verbose.returncode == 0 and verbose.stderr.strip()


def test_the_servers_package_imports_tensorflow_as_quietly_as_the_toolkits():
    # `import serving` leaves the interpreter as `import mtask_tf` does, with TensorFlow
    # not imported yet: its import finders (the toolkit's quiet TensorFlow import first),
    # TensorFlow's environment variables, and nothing printed. So the quiet run above
    # holds for the server too, without importing TensorFlow twice more here.
    code = (
        "import json, os, sys; import {}; print(json.dumps(["
        "[type(f).__module__ + '.' + type(f).__qualname__ for f in sys.meta_path], "
        "{{k: v for k, v in os.environ.items() if k.startswith('TF_')}}, "
        "'tensorflow' in sys.modules]))"
    )
    toolkit, server = (_fresh_python(code.format(package)) for package in ("mtask_tf", "serving"))
    assert (toolkit.returncode, toolkit.stderr, server.returncode, server.stderr) == (0, "", 0, "")
    finders, environment, imported = json.loads(toolkit.stdout)
    assert finders[0] == "quiet_tensorflow._QuietTensorFlow" and not imported
    assert environment["TF_CPP_MIN_LOG_LEVEL"] == os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    assert json.loads(server.stdout) == [finders, environment, imported]
