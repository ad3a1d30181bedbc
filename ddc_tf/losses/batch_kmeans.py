"""k-means on one batch, in graph (OT clustering places its centroids with it on the first step)."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["kmeans_on_batch"]


def kmeans_on_batch(
    z: tf.Tensor,
    n_clusters: int,
    seed: keras.random.SeedGenerator,
    restarts: int = 10,
    iterations: int = 10,
) -> tuple[tf.Tensor, tf.Tensor]:
    """k-means on one batch of points, in graph: k-means++ seeding then Lloyd iterations,
    best of ``restarts`` by inertia (as scikit-learn's ``n_init``). The restarts run side by
    side as a batch dimension and the Lloyd iterations in a ``tf.while_loop``, so the
    graph stays small.

    Args:
        z: ``(m, d)`` float32 points.
        n_clusters: k.
        seed: the seed generator of the k-means++ draws.
        restarts: independent seedings; the lowest within-cluster sum of squares wins.
        iterations: Lloyd iterations (an empty cluster keeps its centre).

    Returns:
        ``(centroids (k, d), labels (m,))``: the centres and each point's cluster.
    """
    z = tf.cast(z, tf.float32)
    m = tf.shape(z)[0]
    sq_z = tf.reduce_sum(tf.square(z), axis=1)  # (m,)

    def distances(centres: tf.Tensor) -> tf.Tensor:  # (r, c, d) -> (r, m, c)
        cross = tf.einsum("md,rcd->rmc", z, centres)
        sq_c = tf.reduce_sum(tf.square(centres), axis=2)[:, tf.newaxis, :]
        return tf.maximum(sq_z[tf.newaxis, :, tf.newaxis] + sq_c - 2.0 * cross, 0.0)

    first = keras.random.categorical(tf.zeros((restarts, m)), 1, seed=seed)[:, 0]
    centres = tf.gather(z, first)[:, tf.newaxis, :]  # (r, 1, d)
    for _ in range(1, n_clusters):
        nearest = tf.reduce_min(distances(centres), axis=2)  # (r, m)
        picks = keras.random.categorical(tf.math.log(tf.maximum(nearest, 1e-12)), 1, seed=seed)[:, 0]
        centres = tf.concat([centres, tf.gather(z, picks)[:, tf.newaxis, :]], axis=1)

    def lloyd(i: tf.Tensor, centres: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        onehot = tf.one_hot(tf.argmin(distances(centres), axis=2), n_clusters)  # (r, m, k)
        counts = tf.reduce_sum(onehot, axis=1)[:, :, tf.newaxis]  # (r, k, 1)
        means = tf.einsum("rmk,md->rkd", onehot, z) / tf.maximum(counts, 1.0)
        return i + 1, tf.where(counts > 0, means, centres)

    _, centres = tf.while_loop(
        lambda i, c: True, lloyd, (tf.constant(0), centres), maximum_iterations=iterations
    )
    cost = distances(centres)
    inertia = tf.reduce_sum(tf.reduce_min(cost, axis=2), axis=1)  # (r,)
    best = tf.argmin(inertia)
    return centres[best], tf.argmin(cost[best], axis=1, output_type=tf.int32)
