"""mtask_tf: multi-task learning for speaker-role adaptation in neural conversation models."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) buries the
# toolkit's own messages; users can still ask for it by setting the variable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
