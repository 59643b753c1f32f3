"""A Python implementation of TensorFlow Serving's gRPC and REST APIs, and a client.

See docs/serving.md. The stock `tensorflow_model_server` serves the same
SavedModels in production; this package is for development, tests and small
deployments.
"""

# TensorFlow's C++ start-up chatter (CUDA probing on a CPU-only machine, oneDNN
# notices) buries the server's own start-up lines. Importing mtask_tf first
# imports TensorFlow with it silenced, as for the toolkit's own commands;
# MTASK_TF_VERBOSE=1 shows it.
import mtask_tf  # noqa: F401
