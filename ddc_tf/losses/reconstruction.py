"""Reconstruction error as a share of the input's variance (OT clustering and DCAN's decoder)."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["relative_reconstruction_error"]


def relative_reconstruction_error(
    x: tf.Tensor,
    reconstruction: tf.Tensor,
    running_variance: keras.Variable | None = None,
    training: bool = True,
    momentum: float = 0.99,
) -> tf.Tensor:
    """``mean_i ||x_i − x̂_i||² / v``: the share of the input variance ``v`` the
    reconstruction misses.

    In training ``v = mean_i ||x_i − x̄||²`` of the batch (a constant for the gradient), and
    ``running_variance`` (a scalar variable, 0 before the first step) follows it as a
    moving average. In evaluation ``v`` is that running value, so the score of a batch
    does not depend on which other points share it (a batch of one class has a small
    variance of its own).
    """
    x = tf.cast(x, tf.float32)
    reconstruction = tf.cast(tf.reshape(reconstruction, tf.shape(x)), tf.float32)
    axes = tf.range(1, tf.rank(x))
    error = tf.reduce_mean(tf.reduce_sum(tf.square(x - reconstruction), axis=axes))
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    batch_variance = tf.stop_gradient(tf.reduce_mean(tf.reduce_sum(tf.square(centred), axis=axes)))
    variance = batch_variance
    if running_variance is not None:
        running = tf.convert_to_tensor(running_variance)
        if training:
            blended = momentum * running + (1.0 - momentum) * batch_variance
            running_variance.assign(tf.where(running > 0, blended, batch_variance))
        else:
            variance = tf.where(running > 0, running, batch_variance)
    return error / tf.maximum(variance, 1e-12)
