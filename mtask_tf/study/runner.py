"""Runs the study's steps in order, skipping finished ones, with progress and an ETA.

Each step's output goes to `logs/<name>.log` in the work directory; the
runner prints one line when a step starts (with a rough ETA for the rest of
the study), the step's latest progress line every half minute, and one line
when it ends. A failed step stops the study with the end of its log.
"""

import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import time

from mtask_tf import errors
from mtask_tf import progress
from mtask_tf.study import steps as steps_lib

# A gap between two looks at a running step longer than this is a pause (the
# runner stopped, the machine suspended): it does not count as the step's time.
_MAX_GAP_SECONDS = 65
# Seconds per unit before a step of that kind has been timed on this machine:
# a training step of the demo-sized models, an input decoded with beam 50.
_DEFAULT_RATE = {"train": 0.3, "decode": 1.0, "prepare": 30.0, "report": 5.0}
_POLL_SECONDS = 30  # keep below _MAX_GAP_SECONDS


class StudyError(errors.UserError):
    """A step failed; the message names the step and its log."""


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """steps/<name>.json, the marker of a finished step: its command, wall time and commits.

    `kind` and `units` time the rest of the study (seconds per unit of a kind);
    `jobs` is how many steps could run at once; `commits`: the checkouts it ran
    at, more than one when it was stopped and continued after a change.
    """

    name: str
    command: list
    seconds: float
    commits: list = dataclasses.field(default_factory=list)
    kind: str = ""
    units: int | None = None
    jobs: int = 1
    finished: str = ""

    def save(self, path):
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path):
        """Raises StudyError naming the file when it is not a step record; fields that
        older runners did not write take their defaults."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            known = {field.name for field in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in record.items() if k in known})
        except json.JSONDecodeError as error:
            raise StudyError(
                f"{path}:{error.lineno}: not valid JSON ({error.msg}); delete it to run "
                "the step again"
            ) from None
        except TypeError as error:
            raise StudyError(
                f"{path}: not a step record ({error}); delete it to run the step again"
            ) from None


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What the report states about the run: the report's commit, date, machine, versions,
    the study's command and the finished steps' records."""

    commit: str = "unknown"
    date: str = "unknown"
    machine: str = "unknown"
    versions: dict = dataclasses.field(default_factory=dict)
    command: str = "unknown"
    steps: tuple = ()

    @property
    def total_seconds(self):
        """The steps' wall times added up; None before any step finished."""
        return sum(step.seconds for step in self.steps) if self.steps else None


class _Job:
    """One running step: its process, log and time so far (pauses left out)."""

    def __init__(self, step, work_dir, env):
        self.step = step
        self.log_path = work_dir / "logs" / f"{step.name}.log"
        self.partial = work_dir / "steps" / f"{step.name}.seconds"
        self.seconds = float(self.partial.read_text()) if self.partial.is_file() else 0.0
        self.began = self.last = self.shown = time.time()
        self.exclusive = False
        self.command = step.command()
        # The commits the step ran at: more than one when it was stopped and
        # continued after a change (each run of it adds the one it runs at).
        self.commits_path = work_dir / "steps" / f"{step.name}.commits"
        known = self.commits_path.read_text().splitlines() if self.commits_path.is_file() else []
        commit = current_commit()
        self.commits = known if known[-1:] == [commit] else [*known, commit]
        self.commits_path.write_text("".join(f"{c}\n" for c in self.commits))
        self.out = open(self.log_path, "a", encoding="utf-8")
        self.out.write(f"$ {' '.join(self.command)}\n")
        self.out.flush()
        self.process = subprocess.Popen(
            self.command, stdout=self.out, stderr=subprocess.STDOUT, env=env
        )

    def tick(self):
        """Adds the time since the last look; True once the process has ended."""
        now = time.time()
        self.seconds += min(now - self.last, _MAX_GAP_SECONDS)
        self.last = now
        self.partial.write_text(f"{self.seconds:.1f}\n")
        ended = self.process.poll() is not None
        if ended:
            self.out.close()
        return ended

    def ask_to_stop(self):
        """Sends SIGTERM: training saves a checkpoint and exits; `wait` for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self):
        self.process.wait()
        self.tick()

    def failure(self):
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        return StudyError(
            f"step {self.step.name} failed (exit {self.process.returncode}); "
            f"the end of {self.log_path}:\n" + "\n".join(tail)
        )


class Runner:
    """Runs `steps` in `work_dir`, printing progress with `log`.

    Args:
        steps: `steps.Step` list, in an order where every step comes after
            the steps it needs (`Step.after`).
        work_dir: the study's work directory.
        log: function(str).
        jobs: how many steps may run at once. With more than one, each gets
            an equal share of the CPU cores as TensorFlow's thread count.
    """

    def __init__(self, steps, work_dir, log, jobs=1):
        self.steps = steps
        self.work_dir = work_dir
        self.log = log
        self.jobs = jobs
        known = {s.name for s in steps}
        for step in steps:
            unknown = [name for name in step.after if name not in known]
            if unknown:
                raise ValueError(f"step {step.name} needs unknown step(s) {unknown}")
        (work_dir / "steps").mkdir(parents=True, exist_ok=True)
        (work_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.rates = dict(_DEFAULT_RATE)
        for record in self.records():
            self._learn_rate(record)

    def marker(self, step):
        return self.work_dir / "steps" / f"{step.name}.json"

    def records(self):
        """The `StepRecord`s of the finished steps, in step order."""
        return [StepRecord.load(self.marker(s)) for s in self.steps if self.marker(s).is_file()]

    def _learn_rate(self, record):
        if record.units and record.kind:
            self.rates[record.kind] = record.seconds / record.units

    def _estimate(self, steps):
        return sum(self.rates[s.kind] * (s.units or 1) for s in steps) / self.jobs

    def _env(self, sharing):
        env = dict(os.environ)
        if sharing > 1:
            threads = str(max(1, (os.cpu_count() or 1) // sharing))
            env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
            env.setdefault("TF_NUM_INTEROP_THREADS", "1")
        return env

    def run(self):
        """Runs every unfinished step, up to `jobs` at once, each once its inputs are done."""
        start = time.time()
        done = {s.name for s in self.steps if self.marker(s).is_file()}
        pending = [s for s in self.steps if s.name not in done]
        running = []
        try:
            while pending or running:
                ready = [s for s in pending if set(s.after) <= done]
                if any(job.exclusive for job in running):
                    ready = []  # It has every core; sharing them now would oversubscribe.
                for step in ready[: self.jobs - len(running)]:
                    pending.remove(step)
                    # A step that will run alone gets every core, else its share.
                    sharing = min(self.jobs, len(running) + len(ready))
                    running.append(self._start(step, pending, sharing))
                time.sleep(1)
                for job in list(running):
                    if job.tick():
                        running.remove(job)
                        if job.process.returncode != 0:
                            raise job.failure()
                        self._finish(job)
                        done.add(job.step.name)
                    elif time.time() - job.shown >= _POLL_SECONDS:
                        job.shown = time.time()
                        self._show_progress(job)
                if pending and not running and not any(set(s.after) <= done for s in pending):
                    raise StudyError(
                        "steps wait for steps that never run: " + ", ".join(s.name for s in pending)
                    )
        finally:
            for job in running:  # all at once: each may take a while to save
                job.ask_to_stop()
            for job in running:
                job.wait()
        self.log(f"study steps finished ({progress.short_duration(time.time() - start)} this run)")

    def _number(self, step):
        return f"[study {self.steps.index(step) + 1}/{len(self.steps)}]"

    def _start(self, step, pending, sharing):
        eta = self._estimate([step, *pending])
        self.log(
            f"{self._number(step)} {step.what}: starting (log {self.work_dir / 'logs'}"
            f"/{step.name}.log); the rest of the study ETA ~{progress.short_duration(eta)}"
        )
        job = _Job(step, self.work_dir, self._env(sharing))
        job.exclusive = self.jobs > 1 and sharing == 1
        return job

    def _finish(self, job):
        step = job.step
        for model_dir in step.model_dirs:
            steps_lib.record_steps_run(model_dir)
        record = StepRecord(
            name=step.name,
            command=job.command,
            seconds=job.seconds,
            commits=job.commits,
            kind=step.kind,
            units=step.units,
            jobs=self.jobs,
            finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )
        record.save(self.marker(step))
        job.partial.unlink(missing_ok=True)
        job.commits_path.unlink(missing_ok=True)
        self._learn_rate(record)
        self.log(
            f"{self._number(step)} {step.what}: done in {progress.short_duration(job.seconds)}"
        )

    def _show_progress(self, job):
        lines = job.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        progress = [line for line in lines if "ETA" in line or "dev perplexity" in line]
        if progress:
            self.log(f"  {job.step.name}: {progress[-1].strip()}")


def current_commit():
    """The checkout's short commit, "(with uncommitted changes)" added if tracked files differ."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            or "unknown"
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:  # no git on this machine
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def run_info(protocol, work_dir, command, records):
    """The `RunInfo` of this run: the checkout's commit, today, this machine, the versions."""
    import keras
    import tensorflow as tf

    return RunInfo(
        commit=current_commit(),
        date=time.strftime("%Y-%m-%d"),
        machine=_machine(),
        versions={
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        command=command,
        steps=tuple(records),
    )


def _machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            ]
        model = f"{names[0]}, {len(names)} cores" if names else model
    except OSError:
        pass
    return f"{model} ({platform.system()} {platform.release()}, Python {sys.version.split()[0]})"
