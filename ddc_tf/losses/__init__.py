"""Clustering losses and the tensor operations they are built from (no Keras models here).

- :mod:`ddc_tf.losses.ddc`: the DDC loss (Cauchy–Schwarz divergence in a kernel space,
  orthogonality, simplex corners), term by term; its public names are re-exported here,
  so ``ddc_tf.losses.ddc_loss`` is the DDC loss.
- :mod:`ddc_tf.losses.sinkhorn`: entropic optimal transport (geometry, problem, solver)
  and the assignment logits ``(g − C)/ε`` OT clustering predicts with.
- :mod:`ddc_tf.losses.reconstruction`: reconstruction error as a share of the variance.
- :mod:`ddc_tf.losses.batch_kmeans`: k-means on one batch, in graph.
- :mod:`ddc_tf.losses.neighbors`: neighbour consistency (a point and its input-space
  neighbour in the same cluster), the optional fourth term of DDC's training objective,
  the balance term that keeps it from emptying clusters,
  and the siblings' version of it (their latent points close).
"""

from ddc_tf.losses import batch_kmeans, ddc, neighbors, reconstruction, sinkhorn
from ddc_tf.losses.ddc import (
    DEFAULT_REL_SIGMA,
    DEFAULT_SIGMA_MODE,
    EPS_N,
    EPS_N_DIAG_PRODUCT,
    EPS_SIGMA,
    SIGMA_MODES,
    TERM_NAMES,
    SigmaMode,
    bandwidth_sq,
    cauchy_schwarz,
    ddc_loss,
    gaussian_kernel,
    orthogonality,
    pairwise_sq_dists,
    simplex_corner_affinity,
    upper_triangle_median,
)
from ddc_tf.losses.neighbors import cluster_balance, neighbor_consistency, neighbor_distance

__all__ = [
    "DEFAULT_REL_SIGMA",
    "DEFAULT_SIGMA_MODE",
    "EPS_N",
    "EPS_N_DIAG_PRODUCT",
    "EPS_SIGMA",
    "SIGMA_MODES",
    "TERM_NAMES",
    "SigmaMode",
    "bandwidth_sq",
    "batch_kmeans",
    "cauchy_schwarz",
    "cluster_balance",
    "ddc",
    "ddc_loss",
    "gaussian_kernel",
    "neighbor_consistency",
    "neighbor_distance",
    "neighbors",
    "orthogonality",
    "pairwise_sq_dists",
    "reconstruction",
    "simplex_corner_affinity",
    "sinkhorn",
    "upper_triangle_median",
]
