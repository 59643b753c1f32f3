"""mtask_tf: multi-task learning for speaker-role adaptation in neural conversation models.

Importing the package imports TensorFlow with its C++ start-up lines (CUDA
probing on a machine without a GPU, oneDNN notices, absl's "before
InitializeLog" warning) silenced, so a command's output starts with its own
lines. Set MTASK_TF_VERBOSE_STARTUP=1 to see them.
"""

import os


def _import_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with file descriptor 2 sent to /dev/null.

    Finding the devices (not creating the runtime) is where the CUDA probe
    writes; MultiWorkerMirroredStrategy can still be made afterwards.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("MTASK_TF_VERBOSE_STARTUP") == "1":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()
