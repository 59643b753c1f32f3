"""A test-speed device: `python -m MODULE` runs in a fork of a process that imported TensorFlow.

Importing TensorFlow and Keras takes seconds, and the suite runs the CLIs
(train, decode, export, the study runner and the commands it starts, ...) as
real programs well over a hundred times. A zygote process imports them once;
`SHIM`, an executable that stands in for the Python interpreter, asks it to
fork a child that runs the module with the shim's argv, working directory,
environment and standard streams (passed over a Unix socket), and exits with
the child's status. The child is a fresh program in every way that the tests
look at: no op has run, no mtask_tf module but the package itself is imported,
flags are defined anew, signals sent to the shim (SIGTERM, SIGINT) reach it.

Anything that is not `-m MODULE` (`python -c ...`, scripts), and every run
when the zygote is not up, executes the real interpreter, so tests that need a
process that imported nothing (the export's fresh-process check, the import
layering checks) or that SIGKILL a program (a shim cannot forward SIGKILL) use
`sys.executable` directly.
"""

import atexit
import importlib
import json
import os
import pathlib
import runpy
import select
import signal
import socket
import subprocess
import sys
import time
import traceback

_HEADER = 8
_SHIM_TEXT = '''#!{python} -S
"""python -m MODULE through the test zygote (tests/zygote.py); anything else: the real python."""
import json, os, signal, socket, sys

real, argv = os.environ.get("ZYGOTE_PYTHON", {python!r}), sys.argv[1:]
path = os.environ.get("ZYGOTE_SOCKET")
if not path or len(argv) < 2 or argv[0] != "-m":
    os.execv(real, [real, *argv])
connection = socket.socket(socket.AF_UNIX)
try:
    connection.connect(path)
except OSError:
    os.execv(real, [real, *argv])
request = json.dumps({{"module": argv[1], "args": argv[2:], "cwd": os.getcwd(),
                      "env": dict(os.environ)}}).encode()
socket.send_fds(connection, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
replies = connection.makefile("r")
pid = int(replies.readline().split()[1])

def forward(signum, frame):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass

for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(signum, forward)
line = replies.readline()
code = int(line.split()[1]) if line.startswith("exit ") else 1
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
'''


def _exit_code(error):
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _run_child(request, fds):
    """In the forked child: become `python -m MODULE ARGS` in the shim's place, then exit."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.executable = os.environ.get("ZYGOTE_SHIM", sys.executable)
    sys.argv = [request["module"], *request["args"]]
    sys.path[0] = request["cwd"]
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as error:
        code = _exit_code(error)
    except BaseException:  # noqa: BLE001  a program's uncaught error: its traceback, status 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _receive(connection):
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    size = int.from_bytes(data[:_HEADER], "big")
    while len(data) < _HEADER + size:
        more = connection.recv(1 << 16)
        if not more:
            raise EOFError("the shim hung up")
        data += more
    return json.loads(data[_HEADER:]), fds


def _monitor(connection, request, fds):
    """In a fork of the zygote: fork the program, report its pid and exit status.

    When the shim goes away (killed, even by SIGKILL), its end of the socket
    closes and the program is killed too, as if it had been the shim.
    """
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    try:
        connection.sendall(f"pid {pid}\n".encode())
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                connection.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                break
            if select.select([connection], [], [], 0.1)[0] and not connection.recv(1):
                os.kill(pid, signal.SIGKILL)  # the shim is gone
                os.waitpid(pid, 0)
                break
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    finally:
        os._exit(0)


def serve(path, parent):
    """The zygote: import TensorFlow once, then fork one program per request until `parent` dies."""
    # In this order, as in a real run: the package sets TF_CPP_MIN_LOG_LEVEL first.
    for name in ("mtask_tf", "tensorflow", "keras"):
        importlib.import_module(name)

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(128)
    print("zygote ready", flush=True)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if not select.select([listener], [], [], 1.0)[0]:
            if os.getppid() != parent:
                return
            continue
        connection, _ = listener.accept()
        try:
            request, fds = _receive(connection)
        except (OSError, EOFError, ValueError):
            connection.close()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            _monitor(connection, request, fds)
        connection.close()
        for fd in fds:
            os.close(fd)


class Zygote:
    """Starts the zygote for this test process; `env()` is what a subprocess needs to use it."""

    def __init__(self, directory):
        directory = pathlib.Path(directory)
        self.socket = str(directory / "zygote.sock")
        self.shim = str(directory / "python")
        pathlib.Path(self.shim).write_text(_SHIM_TEXT.format(python=sys.executable))
        os.chmod(self.shim, 0o755)
        self.log = open(directory / "zygote.log", "w")
        code = f"from tests import zygote; zygote.serve({self.socket!r}, {os.getpid()})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=pathlib.Path(__file__).resolve().parent.parent,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test zygote did not start; see {directory}/zygote.log")
            time.sleep(0.05)

    def env(self):
        return {
            "ZYGOTE_SOCKET": self.socket,
            "ZYGOTE_SHIM": self.shim,
            "ZYGOTE_PYTHON": sys.executable,
        }

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
