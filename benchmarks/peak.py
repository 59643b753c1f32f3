"""The limit: measured matmul throughput (GFLOP/s) in float32 and bfloat16, with TensorFlow."""

import os
import platform

import tensorflow as tf

from benchmarks import stats
from mtask_tf.decoding import low_precision

_CHAIN = 8  # matmuls per timed call, so call overhead is small against the work


def device():
    """Where TensorFlow runs: the first GPU if it sees one, else the CPU and its cores."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
        return {"type": "GPU", "name": name, "count": len(gpus), "bfloat16": True}
    name = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {
        "type": "CPU",
        "name": name,
        "count": len(os.sched_getaffinity(0)),
        # bfloat16 matmul instructions (AVX-512 BF16 or AMX): without them bf16 is emulated.
        "bfloat16": low_precision.cpu_has_bfloat16(),
    }


def matmul_gflops(dtype, n, repetitions, warmup=2):
    """GFLOP/s samples of a chain of [n, n] x [n, n] matmuls."""
    a = tf.random.normal([n, n], dtype=tf.float32)
    # Scaled so that the chain neither overflows nor vanishes.
    b = tf.cast(tf.random.normal([n, n]) / n**0.5, dtype)
    a = tf.cast(a, dtype)

    @tf.function
    def chain(x):
        for _ in range(_CHAIN):
            x = tf.matmul(x, b)
        return tf.reduce_sum(tf.cast(x[:1, :1], tf.float32))

    seconds = stats.time_calls(lambda: chain(a).numpy(), repetitions, warmup)
    return [g / 1e9 for g in stats.rates(2 * n**3 * _CHAIN, seconds)]


def run(quick):
    n = 1024 if quick else 2048
    reps = 3 if quick else 10
    result = {"matrix": n}
    for dtype in (tf.float32, tf.bfloat16):
        result[dtype.name] = stats.summary(matmul_gflops(dtype, n, reps))
    return result
