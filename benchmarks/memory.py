"""Peak resident memory of training (a subprocess) and of a running process (the server).

Training's peak is measured in a fresh process, so what the benchmark itself
loaded does not count: `python -m benchmarks.memory [--quick]` runs a few
multi-task training steps and prints its ru_maxrss in MB.
"""

import json
import pathlib
import resource
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def peak_rss_mb(pid):
    """The high-water mark of a live process's resident memory (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM")


def train_peak_rss_mb(quick):
    """Peak RSS of the multi-task training step (paper sizes; quick sizes with --quick)."""
    command = [sys.executable, "-m", "benchmarks.memory"] + (["--quick"] if quick else [])
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"training in a subprocess failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def _train_and_report(quick):
    from benchmarks import train

    train.measure(train.QUICK if quick else train.PAPER, "multitask", 1, 2)
    # Linux reports ru_maxrss in kilobytes.
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    _train_and_report("--quick" in sys.argv[1:])
