"""Imports TensorFlow, the first time anything asks for it, without its C++ start-up chatter.

TensorFlow's C++ start-up lines (CUDA probing on a CPU-only machine, oneDNN
notices) bury a program's own lines. Most of them are printed while
`tensorflow` is imported and its devices are listed, before any log level
applies, so those moments run with stderr closed. MTASK_TF_VERBOSE=1 shows them.

Shared by `mtask_tf` and `serving` (which imports nothing of `mtask_tf`):
importing either package imports this one first.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
VERBOSE_ENV = "MTASK_TF_VERBOSE"


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_silenced():
            self._loader.exec_module(module)
            # Device discovery prints the CUDA probe's error; it runs no op, so
            # a multi-worker strategy can still be created afterwards.
            module.config.list_physical_devices()


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Imports `tensorflow`, the first time anything asks for it, with stderr silenced."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


if os.environ.get(VERBOSE_ENV) != "1" and "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, _QuietTensorFlow())
