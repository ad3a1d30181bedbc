"""Non-deep baselines (SPEC §3): k-means with k-means++ initialisation.

As in the paper, k-means is run with k-means++ seeding and the best of 20 restarts
(lowest inertia, i.e. within-cluster sum of squares) is kept. Plain scikit-learn; no
TensorFlow import.

Example:
    >>> from sklearn.datasets import load_digits
    >>> x, y = load_digits(return_X_y=True)
    >>> result = kmeans_baseline(x, y, n_clusters=10, seed=0)
    >>> sorted(result)
    ['acc', 'labels', 'nmi']
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans

from ddc_tf.checks import positive_int
from ddc_tf.evaluation import cluster_metrics

__all__ = ["kmeans", "kmeans_baseline"]

#: Restarts of k-means, keeping the one with the lowest inertia (paper §4.6).
DEFAULT_N_INIT = 20


def _as_features(x) -> np.ndarray | sp.csr_matrix:
    """Return ``x`` as an ``(n, d)`` float matrix: dense arrays are flattened per sample,
    scipy sparse matrices are converted to CSR."""
    if sp.issparse(x):
        if x.ndim != 2:
            raise ValueError(f"x is sparse with shape {x.shape}, expected (n, d)")
        x = sp.csr_matrix(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    else:
        x = np.asarray(x)
        if x.ndim == 0:
            raise ValueError("x is a scalar, expected an array of shape (n, ...)")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise ValueError(f"x has dtype {x.dtype}, expected numeric features")
        if x.shape[0] == 0:
            raise ValueError(f"x has shape {x.shape}, expected at least one sample")
        x = x.reshape(x.shape[0], -1)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    if x.shape[0] == 0:
        raise ValueError(f"x has shape {x.shape}, expected at least one sample")
    if x.shape[1] == 0:
        raise ValueError(f"x has shape {x.shape}, expected at least one feature")
    return x


def kmeans(x, n_clusters: int, *, n_init: int = DEFAULT_N_INIT, seed: int = 0) -> np.ndarray:
    """Cluster ``x`` with k-means (k-means++ seeding, best of ``n_init`` restarts).

    Args:
        x: shape ``(n, ...)``, dense array of any rank (each sample is flattened, e.g.
            images ``(n, 28, 28, 1)`` become ``(n, 784)``), or a scipy sparse matrix of
            shape ``(n, d)`` (used as CSR, e.g. tf-idf features).
        n_clusters: number of clusters ``k``, ``1 <= k <= n``.
        n_init: number of k-means++ restarts; the run with the lowest inertia is kept.
        seed: random seed; the result is deterministic given it.

    Returns:
        int64 array of shape ``(n,)`` with cluster ids in ``0..n_clusters-1``.
    """
    x = _as_features(x)
    n_clusters = positive_int(n_clusters, "n_clusters")
    n_init = positive_int(n_init, "n_init")
    if n_clusters > x.shape[0]:
        raise ValueError(
            f"n_clusters={n_clusters} is larger than the number of samples ({x.shape[0]})"
        )
    model = KMeans(
        n_clusters=n_clusters, init="k-means++", n_init=n_init, random_state=seed
    )
    return model.fit_predict(x).astype(np.int64)


def kmeans_baseline(
    x, y, n_clusters: int, *, n_init: int = DEFAULT_N_INIT, seed: int = 0
) -> dict:
    """Run the k-means baseline and score it.

    Args:
        x: features, as in :func:`kmeans`, shape ``(n, ...)``.
        y: shape ``(n,)`` integer class ids, or ``None`` for unlabelled data.
        n_clusters: number of clusters.
        n_init: number of k-means++ restarts (best inertia kept).
        seed: random seed.

    Returns:
        ``{"labels": int64 array (n,), "acc": float | None, "nmi": float | None}``.
    """
    x = _as_features(x)
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 1 and y.shape[0] != x.shape[0]:  # fail before the expensive fit
            raise ValueError(
                f"y has {y.shape[0]} labels but x has {x.shape[0]} samples; "
                "they must match"
            )
    labels = kmeans(x, n_clusters, n_init=n_init, seed=seed)
    return {"labels": labels, **cluster_metrics(y, labels)}
