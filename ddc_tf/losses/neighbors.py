"""Neighbour consistency: a point and one of its nearest neighbours in the input space
should land in the same cluster.

``neighbor_consistency(a, b) = − mean_q log(max(a_q · b_q, EPS_CONSISTENCY))``, where
``a_q`` is the soft assignment of point q and ``b_q`` that of one of its k nearest
neighbours (the SCAN consistency term: Van Gansbeke et al., "SCAN: Learning to Classify
Images without Labels", ECCV 2020, Eq. 2, without its entropy term — DDC's ``l2`` already
spreads the points over the clusters). 0 when both assignments are the same one-hot
vector; large when they put their mass on different clusters.

Why DDC needs it: DDC's kernel is formed on the mini-batch, so it only sees which of 100
random points are close. On sparse, high-dimensional data (TF-IDF) two random posts
rarely share a term and a flexible network can satisfy the loss with almost any balanced
partition; the neighbour pairs bring in the whole data set's geometry (on 20 Newsgroups'
TF-IDF rows, 78 % of each post's 10 cosine neighbours share its category).

``cluster_balance(a) = log k − H(mean_q a_q)`` is SCAN's entropy term (its Eq. 2, written to be
≥ 0): 0 when the batch's mean assignment is uniform over the k clusters, log k when every
point is in one cluster. The consistency term alone rewards merging clusters (two points in
one cluster always agree); with many clusters DDC's own terms do not hold that back — on all
20 newsgroups (k = 20) runs trained with the consistency term left 12–17 clusters with < 1 %
of the posts. The balance term does, at a price on imbalanced data, whose mean assignment is
not uniform (README, "Beating k-means", item 12).

``neighbor_distance(z, z_nbr) = mean_q ||z_q − z_nbr(q)||²`` is the same idea for the
sibling methods, whose clusters are regions of a latent space (OT's centroids, DCAN's
prior components): their cluster probabilities are softmaxes of squared distances
scaled by 1/ε or 1/(2σ²), so sharp that two points in different clusters give an inner
product below any floor — and then no gradient. The squared distance between the two
latent points is their k-means distortion's own unit and always has a gradient.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["EPS_CONSISTENCY", "cluster_balance", "neighbor_consistency", "neighbor_distance"]

#: Floor on the inner product ``a_q · b_q`` before the log (a bound of ≈ 16.1 per pair).
EPS_CONSISTENCY = 1e-7


def neighbor_consistency(assignments: tf.Tensor, neighbor_assignments: tf.Tensor) -> tf.Tensor:
    """Mean negative log inner product of paired soft assignments.

    Args:
        assignments: ``(m, k)`` soft cluster assignments of the batch's points (rows on
            the simplex); any float dtype, computed in float32.
        neighbor_assignments: ``(m, k)`` those of one neighbour of each point, row by row.

    Returns:
        float32 scalar ≥ 0 (for rows on the simplex).

    Example:
        >>> a = tf.constant([[1.0, 0.0], [0.5, 0.5]])
        >>> float(neighbor_consistency(a, a))  # −(log 1 + log 0.5) / 2
        0.3465...
    """
    a, b = _paired_rows(assignments, neighbor_assignments, "assignments", "(m, k)")
    agreement = tf.reduce_sum(a * b, axis=1)
    return -tf.reduce_mean(tf.math.log(tf.maximum(agreement, EPS_CONSISTENCY)))


def cluster_balance(assignments: tf.Tensor) -> tf.Tensor:
    """How far the batch's mean assignment is from uniform: ``log k − H(p̄)``, ``p̄ = mean_q a_q``.

    Args:
        assignments: ``(m, k)`` soft cluster assignments of the batch's points (rows on the
            simplex); any float dtype, computed in float32.

    Returns:
        float32 scalar in ``[0, log k]`` (nats): 0 when every cluster holds 1/k of the
        batch's mass, log k when one holds all of it. ``0 · log 0`` counts as 0 (the mass is
        floored at ``EPS_CONSISTENCY`` inside the log).

    Example:
        >>> round(float(cluster_balance(tf.constant([[1.0, 0.0], [1.0, 0.0]]))), 4)  # log 2
        0.6931
    """
    a = tf.cast(assignments, tf.float32)
    if a.shape.rank != 2:
        raise ValueError(f"assignments must be an (m, k) matrix, got shape {a.shape}")
    mean = tf.reduce_mean(a, axis=0)
    entropy = -tf.reduce_sum(mean * tf.math.log(tf.maximum(mean, EPS_CONSISTENCY)))
    return tf.math.log(tf.cast(tf.shape(a)[1], tf.float32)) - entropy


def neighbor_distance(latent: tf.Tensor, neighbor_latent: tf.Tensor) -> tf.Tensor:
    """Mean squared Euclidean distance between paired latent points.

    Args:
        latent: ``(m, d)`` latent points of the batch; any float dtype, computed in float32.
        neighbor_latent: ``(m, d)`` those of one neighbour of each point, row by row.

    Returns:
        float32 scalar ``mean_q Σ_j (z_qj − z'_qj)²`` ≥ 0, in the latent space's squared units.

    Example:
        >>> float(neighbor_distance(tf.constant([[0.0, 0.0], [1.0, 1.0]]), tf.constant([[3.0, 4.0], [1.0, 1.0]])))
        12.5
    """
    a, b = _paired_rows(latent, neighbor_latent, "latent points", "(m, d)")
    return tf.reduce_mean(tf.reduce_sum(tf.square(a - b), axis=1))


def _paired_rows(rows: tf.Tensor, partner_rows: tf.Tensor, what: str, shape: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Both as float32 matrices of the same shape, or a ValueError naming ``what``."""
    a, b = tf.cast(rows, tf.float32), tf.cast(partner_rows, tf.float32)
    if a.shape.rank != 2 or b.shape.rank != 2:
        raise ValueError(f"{what} must be {shape} matrices, got shapes {a.shape} and {b.shape}")
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"{what} {a.shape} and their neighbours' {b.shape} differ in shape")
    return a, b
