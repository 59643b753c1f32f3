"""Speed and memory benchmarks of mtask_tf; `python -m benchmarks.run` (see README.md)."""
