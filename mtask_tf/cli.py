"""Start-up checks and error reporting shared by the command-line modules.

The CLIs (mtask_tf.prepare, train, decode, tune_mmi, evaluate, export) define and
read their own flags; these helpers only look at the flag holders or flag names
handed to them. A wrong command line raises absl's `app.UsageError` (usage text,
exit status 1); a known user error (bad data, missing model directory, ...)
becomes one line `error: <message>` on stderr and exit status 1, no traceback.
"""

import contextlib

from absl import app
from absl import flags


def no_positional_arguments(argv):
    """Rejects anything after the program name: `unexpected arguments: ...`."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def require(*flag_holders):
    """Rejects the first flag holder without a value (None, "" or []): `--NAME is required`."""
    for holder in flag_holders:
        if not holder.value:
            raise app.UsageError(f"--{holder.name} is required")


def require_positive(*names, show_value=False, flag_values=flags.FLAGS):
    """Rejects the first named flag whose value is 0 or less: `--NAME must be positive`.

    show_value=True appends the value given (`--NAME must be positive, got 0`).
    """
    for name in names:
        value = flag_values[name].value
        if value <= 0:
            suffix = f", got {value}" if show_value else ""
            raise app.UsageError(f"--{name} must be positive{suffix}")


@contextlib.contextmanager
def user_errors(*error_types, prefix=""):
    """Turns an error of error_types raised in the block into `error: PREFIX<error>`.

    The message goes to stderr with exit status 1 (SystemExit with a string) and no
    traceback; other exceptions pass through unchanged. Nest two of these for two
    prefixes.
    """
    try:
        yield
    except error_types as error:
        raise SystemExit(f"error: {prefix}{error}") from None
