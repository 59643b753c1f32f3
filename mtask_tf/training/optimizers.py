"""Adam whose per-variable update is TensorFlow's single fused kernel."""

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
    """Keras Adam with each variable updated by one `ResourceApplyAdam` kernel.

    Same formula as `keras.optimizers.Adam` (m, v, bias-corrected step size), but
    one pass over each variable instead of about ten elementwise ops; on the paper
    model that is 10 % of a CPU training step (benchmarks/README.md). Falls back to
    the Keras update where the kernel does not apply: AMSGrad, non-float32
    variables, or several replicas (where variables are distributed values).

    Args:
        Those of `keras.optimizers.Adam`.
    """

    def update_step(self, gradient, variable, learning_rate):
        if (
            self.amsgrad
            or variable.dtype != "float32"
            or tf.distribute.get_strategy().num_replicas_in_sync > 1
        ):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, tf.float32)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, tf.float32), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, tf.float32), step),
            lr=tf.cast(learning_rate, tf.float32),
            beta1=tf.cast(self.beta_1, tf.float32),
            beta2=tf.cast(self.beta_2, tf.float32),
            epsilon=tf.cast(self.epsilon, tf.float32),
            grad=tf.cast(tf.convert_to_tensor(gradient), tf.float32),
        )


def _handle(variable):
    """The resource handle of a tf.Variable or of the one inside a Keras variable."""
    if isinstance(variable, tf.Variable):
        return variable.handle
    return variable.value.handle
