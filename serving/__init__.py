"""A Python implementation of TensorFlow Serving's gRPC and REST APIs, and a client.

See docs/serving.md. The stock `tensorflow_model_server` serves the same
SavedModels in production; this package is for development, tests and small
deployments.
"""

# TensorFlow without its C++ start-up chatter (CUDA probing, oneDNN notices),
# as for the toolkit's own commands; MTASK_TF_VERBOSE=1 shows it.
import quiet_tensorflow  # noqa: F401
