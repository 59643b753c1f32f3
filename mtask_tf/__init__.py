"""mtask_tf: multi-task learning for speaker-role adaptation in neural conversation models."""

# TensorFlow without its C++ start-up chatter, whichever module imports it first.
import quiet_tensorflow  # noqa: F401
