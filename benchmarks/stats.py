"""Median, min, max and percentiles of repeated measurements, and a timer."""

import time


def percentile(samples, q):
    """The q-th percentile (0-100) of `samples`, linearly interpolated."""
    values = sorted(samples)
    if not values:
        raise ValueError("percentile of no samples")
    position = (len(values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def summary(samples):
    """{"median", "min", "max", "n"} of a list of numbers."""
    return {
        "median": percentile(samples, 50),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def time_calls(fn, repetitions, warmup=1):
    """Seconds of each of `repetitions` calls of fn(), after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def rates(work, seconds):
    """work / s for each timing: a throughput sample per repetition."""
    return [work / s for s in seconds]
