r"""Runs a study protocol end to end: data, every system, tuning, evaluation, the report.

    python -m mtask_tf.study --protocol=configs/study/friends.toml \
        --work_dir=runs/study/friends --report=docs/results.md

Interrupted anywhere, the same command continues: finished steps are skipped
and training resumes from its checkpoints. See docs/study.md.
"""

import pathlib
import shlex
import signal
import sys
import time

from absl import app
from absl import flags

import mtask_tf  # noqa: F401  (quietens TensorFlow's start-up logging)
from mtask_tf import cli

_PROTOCOL = flags.DEFINE_string("protocol", None, "Protocol file, e.g. configs/study/friends.toml.")
_WORK_DIR = flags.DEFINE_string(
    "work_dir",
    None,
    "Where data, models, evaluations and logs go; rerun with the same directory to continue.",
)
_REPORT = flags.DEFINE_string(
    "report",
    None,
    "The report to write (Markdown, figures in a folder beside it); default WORK_DIR/results.md.",
)
_JOBS = flags.DEFINE_integer(
    "jobs",
    1,
    "Steps that may run at once, each with its share of the CPU cores (steps "
    "that need another's output wait for it). On 2 cores, 2 gives about 1.2 times the "
    "throughput of 1, as small models use two threads poorly.",
    lower_bound=1,
)
_TURNS = flags.DEFINE_list(
    "turns",
    None,
    "Turn files to use instead of the protocol's (the same study on another copy of the data).",
)

_MONOLOGUE = flags.DEFINE_list(
    "monologue",
    None,
    "The targets' text files to use instead of the protocol's [data] monologue "
    "(prepare --monologue).",
)


def _log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _stop(signum, frame):
    raise SystemExit(f"stopped by {signal.Signals(signum).name}; the same command continues")


def main(argv):
    cli.no_positional_arguments(argv)
    cli.require(_PROTOCOL, _WORK_DIR)
    from mtask_tf.study import protocol as protocol_lib
    from mtask_tf.study import report
    from mtask_tf.study import runner as runner_lib
    from mtask_tf.study import steps as steps_lib

    with cli.user_errors():
        protocol = protocol_lib.load(_PROTOCOL.value)
    if _TURNS.value:
        protocol = protocol.with_turns(_TURNS.value)
    if _MONOLOGUE.value:
        protocol = protocol.with_monologue(_MONOLOGUE.value)
    for kind, files, flag in (
        ("turn", protocol.data.turns, "--turns"),
        ("monologue", protocol.data.monologue, "--monologue"),
    ):
        missing = [f for f in files if not pathlib.Path(f).is_file()]
        if missing:
            raise SystemExit(
                f"error: {protocol.path}: {kind} file(s) not found: {', '.join(missing)} "
                f"(paths are relative to the directory you run from; {flag} "
                "overrides them)"
            )
    # `kill` (SIGTERM) stops the running steps too, each saving a checkpoint.
    signal.signal(signal.SIGTERM, _stop)
    work_dir = pathlib.Path(_WORK_DIR.value)
    steps = steps_lib.build(protocol, work_dir)
    runner = runner_lib.Runner(steps, work_dir, _log, jobs=_JOBS.value)
    _log(
        f"study {protocol.name}: {len(steps)} steps, {len(runner.records())} done before; "
        f"work directory {work_dir}"
    )
    with cli.user_errors():
        runner.run()
    output = pathlib.Path(_REPORT.value or work_dir / "results.md")
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "mtask_tf.study", *sys.argv[1:]])
    info = runner_lib.run_info(protocol, work_dir, command, runner.records())
    report.write_report(protocol, work_dir, output, info)
    _log(f"wrote {output}")


if __name__ == "__main__":
    app.run(main)
