"""Training: the multi-task model, its stages, checkpoints and summaries.

This file imports nothing, so that a command-line module can read a default
from here before it imports TensorFlow.
"""

# Global gradient-norm clipping of every update (train's --clip_norm default,
# enrolment's setting, MultiTaskModel's default).
CLIP_NORM = 5.0
