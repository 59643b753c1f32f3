"""What a command does end to end: files in, models loaded, loops run, results out.

The CLI modules (`mtask_tf/evaluate.py`, ...) read flags and call these; the
libraries (`data`, `model`, `training`, `decoding`, `evaluation`) compute and
never drive a command's workflow themselves.
"""
