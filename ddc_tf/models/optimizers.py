"""``FusedAdam``: Keras' Adam whose per-variable update is TensorFlow's one ``ApplyAdam`` kernel.

Keras 3's Adam builds its update out of tensor ops: about 33 graph ops per variable (casts,
powers, the two moment updates, the step) — 393 of the 1 141 ops of a small MLP's traced
DDC train step, and about half of the time it takes to trace the distillation step. Every
run of a protocol traces its own step (and every refined run its distillation), so those ops
are paid once per run in tracing, and on every step in kernel launches.

``FusedAdam.update_step`` computes the same update with ``tf.raw_ops.ResourceApplyAdam``, the
kernel ``tf.keras`` 2 used: with ``t`` the step (``iterations + 1``), ``g`` the gradient,

    m ← m + (g − m)(1 − β₁)
    v ← v + (g² − v)(1 − β₂)
    α = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
    θ ← θ − α · m / (√v + ε)

— Keras' own formula, term for term (``tests/test_optimizers.py`` checks both against NumPy).
Only the order of floating-point operations differs (a fused kernel), so a run's weights
agree with Keras' Adam to rounding, and a run trained long enough lands where rounding takes
it (as on another CPU). Everything else is Keras' ``Optimizer.apply``: learning-rate schedules,
``global_clipnorm`` / ``clipnorm``, weight decay, loss scaling, ``iterations``, saving. Falls
back to Keras' update where the kernel does not apply: ``amsgrad``, sparse gradients
(``IndexedSlices``), and variables other than float32 / float64.

Measured (``python benchmarks/fused_adam.py --long 220 --rounds 4``, 2-core CPU, medians of 4
interleaved rounds; ``benchmarks/results/fused_adam.json``): a 20-step run (build, trace, first
calls) 4.85 → 4.11 s for the paper's CNN and 3.93 → 3.48 s for the MLP with neighbour pairs; the
time per step level (70.7 / 70.4 ms, 14.5 / 13.2 ms — within the machine's noise).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["FusedAdam"]

#: Variable dtypes the fused kernel updates (others take Keras' own update).
_FUSED_DTYPES = (tf.float32, tf.float64)


@keras.saving.register_keras_serializable(package="ddc_tf")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (same arguments, same state, same update rule) whose update of
    a dense float32/float64 variable is one ``ResourceApplyAdam`` kernel. See the module docstring."""

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = tf.as_dtype(variable.dtype)
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or dtype not in _FUSED_DTYPES:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        momentum, velocity = self._momentums[index], self._velocities[index]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=momentum.handle, v=velocity.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.constant(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
        )
        return None
