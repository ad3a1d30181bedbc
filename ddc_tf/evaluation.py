"""Clustering evaluation: ACC, NMI, label alignment and DDC-VOTE (SPEC §3, paper §4.6).

Everything here is plain numpy/scipy/scikit-learn; nothing imports TensorFlow, so the
functions can be used on the output of any clusterer.

* :func:`accuracy` -- unsupervised clustering accuracy: the best one-to-one mapping of
  clusters to classes (Hungarian algorithm on the contingency table).
* :func:`nmi` -- normalised mutual information, ``I(l, c) / ((H(l) + H(c)) / 2)``.
* :func:`align_labels` -- relabel one clustering to match another, without ground truth.
* :func:`vote` -- DDC-VOTE: align several runs to the best one, then majority vote.

Labels are 1-D integer arrays of equal length; the ids themselves are arbitrary integers
(they need not be ``0..k-1``, and the number of clusters may differ from the number of
classes).

Example:
    >>> import numpy as np
    >>> y_true = np.array([0, 0, 1, 1, 2, 2])
    >>> y_pred = np.array([5, 5, 3, 3, 7, 7])  # a relabelling of y_true
    >>> accuracy(y_true, y_pred), round(nmi(y_true, y_pred), 6)
    (1.0, 1.0)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score

from ddc_tf.checks import positive_int

__all__ = [
    "contingency",
    "accuracy",
    "nmi",
    "align_labels",
    "vote",
    "cluster_metrics",
]


# ----------------------------------------------------------------------------------
# Validation (done once, at the public boundary)
# ----------------------------------------------------------------------------------
def _check_labels(labels, name: str, what: str = "cluster ids") -> np.ndarray:
    """Return ``labels`` as a non-empty 1-D integer ndarray or raise a clear ValueError."""
    if labels is None:
        raise ValueError(f"{name} is None, expected a 1-D array of {what}")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} has shape {arr.shape}, expected a 1-D array of {what}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty, expected at least one label")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} has dtype {arr.dtype}, expected an integer array of {what}"
        )
    return arr


def _check_same_length(a: np.ndarray, name_a: str, b: np.ndarray, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} has {a.shape[0]} elements but {name_b} has {b.shape[0]}; "
            "they must label the same points"
        )


def _check_pair(y_a, name_a: str, y_b, name_b: str, what_a: str = "cluster ids",
                what_b: str = "cluster ids") -> tuple[np.ndarray, np.ndarray]:
    a = _check_labels(y_a, name_a, what_a)
    b = _check_labels(y_b, name_b, what_b)
    _check_same_length(a, name_a, b, name_b)
    return a, b


def _encode(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary integer ids to ``0..k-1``.

    Returns:
        ``(values, codes)``: the sorted distinct ids, shape ``(k,)``, and the code of each
        point, shape ``(n,)``, with ``values[codes] == labels``.
    """
    values, codes = np.unique(labels, return_inverse=True)
    return values, codes.reshape(-1).astype(np.int64, copy=False)


# ----------------------------------------------------------------------------------
# Contingency table
# ----------------------------------------------------------------------------------
def contingency(a, b, n_a: int | None = None, n_b: int | None = None) -> np.ndarray:
    """Count co-occurrences of two labelings given as codes ``0..n-1``.

    Args:
        a: shape ``(n,)``, non-negative integer codes, ``a < n_a``.
        b: shape ``(n,)``, non-negative integer codes, ``b < n_b``.
        n_a: number of rows of the table; default ``a.max() + 1``. Use it to keep empty
            clusters as all-zero rows.
        n_b: number of columns of the table; default ``b.max() + 1``.

    Returns:
        int64 array of shape ``(n_a, n_b)`` with ``table[i, j] = #{t : a[t] == i and
        b[t] == j}``.

    Example:
        >>> contingency([0, 0, 1], [1, 1, 0])
        array([[0, 2],
               [1, 0]])
    """
    a, b = _check_pair(a, "a", b, "b", "codes", "codes")
    n_a = _check_size(a, "a", n_a, "n_a")
    n_b = _check_size(b, "b", n_b, "n_b")
    flat = a.astype(np.int64) * n_b + b.astype(np.int64)
    return np.bincount(flat, minlength=n_a * n_b).reshape(n_a, n_b)


def _check_size(codes: np.ndarray, name: str, size: int | None, size_name: str) -> int:
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0:
        raise ValueError(
            f"{name} contains the negative code {lo}; contingency expects codes 0..n-1 "
            "(use accuracy/nmi/align_labels for arbitrary label ids)"
        )
    if size is None:
        return hi + 1
    size = positive_int(size, size_name)
    if hi >= size:
        raise ValueError(f"{name} contains the code {hi}, but {size_name}={size}")
    return int(size)


# ----------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------
def accuracy(y_true, y_pred) -> float:
    """Unsupervised clustering accuracy (ACC).

    ``ACC = max_m (1/n) sum_i 1[y_true_i == m(y_pred_i)]`` over one-to-one maps ``m``
    from clusters to classes, found with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency table. The numbers
    of clusters and classes may differ: the table is rectangular, and points in clusters
    (or classes) left without a partner count as errors.

    Args:
        y_true: shape ``(n,)``, integer class ids (any integers).
        y_pred: shape ``(n,)``, integer cluster ids (any integers).

    Returns:
        ACC in ``[0, 1]``.

    Example:
        >>> accuracy([0, 0, 1, 1], [1, 1, 0, 0])
        1.0
        >>> accuracy([0, 0, 0, 0], [0, 0, 1, 1])  # one cluster can't be matched
        0.5
    """
    y_true, y_pred = _check_pair(y_true, "y_true", y_pred, "y_pred", "class ids")
    _, true_codes = _encode(y_true)
    _, pred_codes = _encode(y_pred)
    table = contingency(pred_codes, true_codes)  # (n_clusters, n_classes)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum()) / y_true.shape[0]


def nmi(y_true, y_pred) -> float:
    """Normalised mutual information with arithmetic normalisation.

    ``NMI = I(l, c) / ((H(l) + H(c)) / 2)`` (natural logs; the base cancels). Computed by
    :func:`sklearn.metrics.normalized_mutual_info_score` with
    ``average_method="arithmetic"``; if both labelings have a single cluster it is 1.

    Args:
        y_true: shape ``(n,)``, integer class ids.
        y_pred: shape ``(n,)``, integer cluster ids.

    Returns:
        NMI in ``[0, 1]``.
    """
    y_true, y_pred = _check_pair(y_true, "y_true", y_pred, "y_pred", "class ids")
    return float(
        normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")
    )


def cluster_metrics(y_true, y_pred) -> dict[str, float | None]:
    """ACC and NMI of a clustering; both ``None`` when there are no labels.

    Args:
        y_true: shape ``(n,)`` integer class ids, or ``None`` (unlabelled data).
        y_pred: shape ``(n,)`` integer cluster ids.

    Returns:
        ``{"acc": float | None, "nmi": float | None}``.
    """
    _check_labels(y_pred, "y_pred")
    if y_true is None:
        return {"acc": None, "nmi": None}
    return {"acc": accuracy(y_true, y_pred), "nmi": nmi(y_true, y_pred)}


# ----------------------------------------------------------------------------------
# Alignment and voting (DDC-VOTE)
# ----------------------------------------------------------------------------------
def align_labels(reference, other) -> np.ndarray:
    """Relabel ``other`` so that its clusters match those of ``reference``.

    Uses no ground truth: the Hungarian algorithm on the contingency table of the two
    clusterings picks the one-to-one map between their clusters that maximises the
    number of points on which they agree. Each matched cluster of ``other`` takes the
    id of its partner in ``reference``. Clusters of ``other`` left without a partner
    (when ``other`` has more clusters) get fresh ids ``max(reference) + 1, + 2, ...``
    (in increasing order of their original id), so they collide with nothing.

    Args:
        reference: shape ``(n,)``, integer cluster ids.
        other: shape ``(n,)``, integer cluster ids to relabel.

    Returns:
        int64 array of shape ``(n,)``: ``other`` with renamed clusters. The partition of
        the points is unchanged.

    Example:
        >>> align_labels([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])
        array([0, 0, 1, 1, 2])
    """
    reference, other = _check_pair(reference, "reference", other, "other")
    ref_values, ref_codes = _encode(reference)
    oth_values, oth_codes = _encode(other)
    table = contingency(oth_codes, ref_codes)  # (k_other, k_reference)
    rows, cols = linear_sum_assignment(table, maximize=True)

    new_ids = np.empty(oth_values.shape[0], dtype=np.int64)
    new_ids[rows] = ref_values[cols]
    unmatched = np.setdiff1d(np.arange(oth_values.shape[0]), rows)  # sorted
    new_ids[unmatched] = int(ref_values.max()) + 1 + np.arange(unmatched.shape[0])
    return new_ids[oth_codes]


def _aligned_to_first(runs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every run's labels renamed to the first run's (:func:`align_labels`); the clusters that
    have no partner there are then matched among the runs, to the fresh clusters of the runs
    before (Hungarian on their overlap), so that the same extra cluster of two runs gets one id
    (with :func:`align_labels` alone the fresh ids follow each run's own id order)."""
    first = runs[0].astype(np.int64)
    aligned = [first]
    base = int(first.max()) + 1  # ids from here on: clusters the first run does not have
    next_fresh = base
    for labels in runs[1:]:
        relabelled = align_labels(first, labels)
        extra = np.unique(relabelled[relabelled >= base])
        if extra.size:
            earlier = np.concatenate([a[a >= base] for a in aligned[1:]] or [np.empty(0, np.int64)])
            earlier_ids = np.unique(earlier)
            renamed = {}
            if earlier_ids.size:
                # overlap[c, j]: points in extra cluster c that an earlier run put in fresh cluster j
                overlap = np.zeros((extra.size, earlier_ids.size), np.int64)
                for a in aligned[1:]:
                    both = (relabelled >= base) & (a >= base)
                    if both.any():
                        overlap += contingency(np.searchsorted(extra, relabelled[both]),
                                               np.searchsorted(earlier_ids, a[both]), extra.size, earlier_ids.size)
                for row, col in zip(*linear_sum_assignment(overlap, maximize=True)):
                    if overlap[row, col] > 0:
                        renamed[int(extra[row])] = int(earlier_ids[col])
            for c in extra:
                if int(c) not in renamed:
                    renamed[int(c)] = next_fresh
                    next_fresh += 1
            relabelled = relabelled.copy()
            mask = relabelled >= base
            relabelled[mask] = [renamed[int(c)] for c in relabelled[mask]]
        next_fresh = max(next_fresh, int(relabelled.max()) + 1)
        aligned.append(relabelled)
    return aligned


def vote(labelings: Sequence[np.ndarray]) -> np.ndarray:
    """DDC-VOTE: majority vote over several clusterings of the same points.

    The labelings are ordered best first (lowest unsupervised loss first, SPEC §3).
    Every other labeling is aligned to the first with :func:`align_labels`, then each
    point takes the label most runs agree on. Ties go to the best run: among the tied
    labels the one given by the earliest run in the list wins (with 3 runs a tie means
    all three differ, and the first run's label is kept).

    Args:
        labelings: sequence of ``R >= 1`` integer arrays, each of shape ``(n,)``, best
            run first. A 2-D array of shape ``(R, n)`` also works.

    Returns:
        int64 array of shape ``(n,)`` in the label space of ``labelings[0]`` (plus fresh
        ids for clusters of other runs that have no partner in it).

    Example:
        >>> vote([np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1]), np.array([5, 5, 5, 7])])
        array([0, 0, 1, 1])
    """
    if isinstance(labelings, np.ndarray) and labelings.ndim == 1:
        raise ValueError(
            f"labelings is a 1-D array of shape {labelings.shape}; expected a sequence "
            "of 1-D label arrays (e.g. [labels_run_1, labels_run_2, ...])"
        )
    runs = [_check_labels(lab, f"labelings[{r}]") for r, lab in enumerate(labelings)]
    if not runs:
        raise ValueError("labelings is empty, expected at least one labeling")
    for r in range(1, len(runs)):
        _check_same_length(runs[0], "labelings[0]", runs[r], f"labelings[{r}]")

    aligned = np.stack(_aligned_to_first(runs))  # (R, n)
    n_runs, n = aligned.shape
    values, codes = _encode(aligned.reshape(-1))
    codes = codes.reshape(n_runs, n)
    k = values.shape[0]
    points = np.arange(n)

    # votes[i, j]: number of runs giving label j to point i.
    votes = np.bincount((points * k + codes).reshape(-1), minlength=n * k).reshape(n, k)
    # first[i, j]: index of the earliest run giving label j to point i (n_runs if none).
    first = np.full((n, k), n_runs, dtype=np.int64)
    for r in range(n_runs - 1, -1, -1):  # loop over runs, not points
        first[points, codes[r]] = r
    # More votes wins; among equal votes the earliest run wins.
    key = votes * (n_runs + 1) + (n_runs - first)
    return values[np.argmax(key, axis=1)]
