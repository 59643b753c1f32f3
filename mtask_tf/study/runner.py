"""Runs the study's steps in order, skipping finished ones, with progress and an ETA.

Each step's output goes to `logs/<name>.log` in the work directory; the
runner prints one line when a step starts (with a rough ETA for the rest of
the study), the step's latest progress line every half minute, and one line
when it ends. A failed step stops the study with the end of its log.
"""

import json
import platform
import subprocess
import sys
import time

from mtask_tf.study import steps as steps_lib

# A gap between two looks at a running step longer than this is a pause (the
# runner stopped, the machine suspended): it does not count as the step's time.
_MAX_GAP_SECONDS = 65
# Seconds per unit before a step of that kind has been timed on this machine:
# a training step of the demo-sized models, an input decoded with beam 50.
_DEFAULT_RATE = {"train": 0.3, "decode": 1.0, "prepare": 30.0, "report": 5.0}
_POLL_SECONDS = 30  # keep below _MAX_GAP_SECONDS


class StudyError(RuntimeError):
    """A step failed; the message names the step and its log."""


class Runner:
    """Runs `steps` in `work_dir`, printing progress with `log`.

    Args:
        steps: `steps.Step` list, in order.
        work_dir: the study's work directory.
        log: function(str).
    """

    def __init__(self, steps, work_dir, log):
        self.steps = steps
        self.work_dir = work_dir
        self.log = log
        (work_dir / "steps").mkdir(parents=True, exist_ok=True)
        (work_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.rates = dict(_DEFAULT_RATE)
        for record in self.records():
            self._learn_rate(record)

    def marker(self, step):
        return self.work_dir / "steps" / f"{step.name}.json"

    def records(self):
        """The done markers of the finished steps, in step order."""
        return [json.loads(self.marker(s).read_text()) for s in self.steps
                if self.marker(s).is_file()]

    def _learn_rate(self, record):
        if record.get("units"):
            self.rates[record["kind"]] = record["seconds"] / record["units"]

    def _estimate(self, steps):
        return sum(self.rates[s.kind] * (s.units or 1) for s in steps)

    def run(self):
        start = time.time()
        for index, step in enumerate(self.steps, start=1):
            if self.marker(step).is_file():
                continue
            eta = self._estimate([s for s in self.steps[index - 1:]
                                  if not self.marker(s).is_file()])
            self.log(f"[study {index}/{len(self.steps)}] {step.what}: starting "
                     f"(log {self.work_dir / 'logs' / step.name}.log); the rest of the "
                     f"study ETA ~{_duration(eta)}")
            record = self._run_step(step)
            self._learn_rate(record)
            self.log(f"[study {index}/{len(self.steps)}] {step.what}: done in "
                     f"{_duration(record['seconds'])}")
        self.log(f"study steps finished ({_duration(time.time() - start)} this run)")

    def _run_step(self, step):
        """Runs one step to its end; its time adds up over interrupted runs, pauses left out."""
        command = step.command()
        log_path = self.work_dir / "logs" / f"{step.name}.log"
        partial = self.work_dir / "steps" / f"{step.name}.seconds"
        seconds = float(partial.read_text()) if partial.is_file() else 0.0
        began = last = time.time()
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            while process.poll() is None:
                time.sleep(1 if time.time() - began < _POLL_SECONDS else _POLL_SECONDS)
                now = time.time()
                seconds += min(now - last, _MAX_GAP_SECONDS)
                last = now
                partial.write_text(f"{seconds:.1f}\n")
                if now - began >= _POLL_SECONDS:
                    self._show_progress(step, log_path)
        if process.returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            raise StudyError(f"step {step.name} failed (exit {process.returncode}); the end "
                             f"of {log_path}:\n" + "\n".join(tail))
        for model_dir in step.model_dirs:
            steps_lib.record_steps_run(model_dir)
        record = {"name": step.name, "kind": step.kind, "command": command,
                  "seconds": seconds, "units": step.units,
                  "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        self.marker(step).write_text(json.dumps(record, indent=2) + "\n")
        partial.unlink(missing_ok=True)
        return record

    def _show_progress(self, step, log_path):
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        progress = [line for line in lines if "ETA" in line or "dev perplexity" in line]
        if progress:
            self.log(f"  {step.name}: {progress[-1].strip()}")


def _duration(seconds):
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def run_info(protocol, work_dir, command, records):
    """What the report states about the run: commit, machine, versions, commands, times."""
    import keras
    import tensorflow as tf

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {"commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "date": time.strftime("%Y-%m-%d"), "machine": _machine(),
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                         "keras": keras.__version__},
            "command": command, "steps": records,
            "total_seconds": sum(r["seconds"] for r in records)}


def _machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo
                     if line.startswith("model name")]
        model = f"{names[0]}, {len(names)} cores" if names else model
    except OSError:
        pass
    return f"{model} ({platform.system()} {platform.release()}, Python {sys.version.split()[0]})"
