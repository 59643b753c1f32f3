"""`python -m mtask_tf.train` on a CPU split into two logical devices (for MirroredStrategy).

Logical devices can only be configured before TensorFlow initialises, which a
fresh program (or a child of the test zygote, tests/zygote.py) has not done:
    python -m tests.training.mirrored_train --distribution=mirrored ...(train's flags)
"""

import tensorflow as tf
from absl import app

from mtask_tf import train

if __name__ == "__main__":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    assert len(tf.config.list_logical_devices("CPU")) == 2
    app.run(train.main)
