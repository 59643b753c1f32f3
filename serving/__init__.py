"""A Python implementation of TensorFlow Serving's gRPC and REST APIs, and a client.

See docs/serving.md. The stock `tensorflow_model_server` serves the same
SavedModels in production; this package is for development, tests and small
deployments.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) buries the
# server's own start-up lines; users can still ask for it by setting the variable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
