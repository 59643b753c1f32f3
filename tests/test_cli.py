"""mtask_tf.cli: the start-up checks and error reporting every command-line module uses."""

import inspect
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
    return (flags.DEFINE_string("model_dir", None, "", flag_values=flag_values),
            flags.DEFINE_list("data", None, "", flag_values=flag_values),
            flags.DEFINE_string("output", None, "", flag_values=flag_values))


def _number_flags(flag_values):
    flags.DEFINE_integer("beam_size", 50, "", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 16, "", flag_values=flag_values)
    flags.DEFINE_float("learning_rate", 1e-3, "", flag_values=flag_values)


def test_no_positional_arguments_accepts_the_program_name_alone():
    assert cli.no_positional_arguments(["prog"]) is None


def test_no_positional_arguments_names_every_extra_argument():
    with pytest.raises(app.UsageError, match=r"^unexpected arguments: a b$") as raised:
        cli.no_positional_arguments(["prog", "a", "b"])
    assert raised.value.exitcode == 1


def test_require_passes_when_every_flag_has_a_value():
    _, holders = _parsed(_text_flags, "--model_dir=m", "--data=a.tsv,b.tsv", "--output=o")
    assert cli.require(*holders) is None


@pytest.mark.parametrize("args, missing", [
    (["--data=a.tsv", "--output=o"], "model_dir"),
    (["--model_dir=m", "--output=o"], "data"),
    (["--model_dir=m", "--data=", "--output=o"], "data"),  # An empty list is no value.
    (["--model_dir=", "--data=a.tsv", "--output=o"], "model_dir"),  # Nor an empty string.
    (["--model_dir=m", "--data=a.tsv"], "output"),
    ([], "model_dir"),  # The first missing one, in the order given.
])
def test_require_names_the_first_missing_flag(args, missing):
    _, holders = _parsed(_text_flags, *args)
    with pytest.raises(app.UsageError, match=rf"^--{missing} is required$"):
        cli.require(*holders)


def test_require_checks_only_the_holders_given():
    _, (model_dir, _, _) = _parsed(_text_flags, "--model_dir=m")
    cli.require(model_dir)


def test_require_positive_passes_positive_values():
    flag_values, _ = _parsed(_number_flags, "--beam_size=1", "--learning_rate=0.5")
    assert cli.require_positive("beam_size", "batch_size", "learning_rate",
                                flag_values=flag_values) is None


@pytest.mark.parametrize("args, message", [
    (["--beam_size=0"], "--beam_size must be positive"),
    (["--batch_size=-3"], "--batch_size must be positive"),
    (["--learning_rate=0"], "--learning_rate must be positive"),
    (["--beam_size=0", "--batch_size=0"], "--beam_size must be positive"),  # The first.
])
def test_require_positive_rejects_zero_and_negative_values(args, message):
    flag_values, _ = _parsed(_number_flags, *args)
    with pytest.raises(app.UsageError) as raised:
        cli.require_positive("beam_size", "batch_size", "learning_rate",
                             flag_values=flag_values)
    assert str(raised.value) == message


@pytest.mark.parametrize("args, message", [
    (["--batch_size=-3"], "--batch_size must be positive, got -3"),
    (["--learning_rate=0"], "--learning_rate must be positive, got 0.0"),
])
def test_require_positive_can_show_the_value_given(args, message):
    flag_values, _ = _parsed(_number_flags, *args)
    with pytest.raises(app.UsageError) as raised:
        cli.require_positive("beam_size", "batch_size", "learning_rate", show_value=True,
                             flag_values=flag_values)
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


@pytest.mark.parametrize("args, returncode, stderr_end", [
    ([], 1, "error: data.tsv: file not found\n"),
    (["extra"], 1, "unexpected arguments: extra\n"),
])
def test_an_absl_program_exits_1_with_the_message_on_stderr(args, returncode, stderr_end):
    result = subprocess.run([sys.executable, "-c", _PROGRAM, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == returncode
    assert result.stderr.endswith(stderr_end)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
