"""Tests for ddc_tf.evaluation: ACC, NMI, contingency, alignment and DDC-VOTE."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ddc_tf.evaluation import (
    accuracy,
    align_labels,
    cluster_metrics,
    contingency,
    nmi,
    vote,
)


# ----------------------------------------------------------------------------------
# Independent references
# ----------------------------------------------------------------------------------
def brute_force_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best one-to-one cluster->class map by enumerating all of them (small k only)."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    n_pairs = min(len(classes), len(clusters))
    best = 0
    # every injective map of n_pairs clusters onto n_pairs classes
    for cl_subset in itertools.permutations(clusters, n_pairs):
        for cs_subset in itertools.combinations(classes, n_pairs):
            hits = sum(
                np.sum((y_pred == c) & (y_true == k)) for c, k in zip(cl_subset, cs_subset)
            )
            best = max(best, hits)
    return best / len(y_true)


def numpy_nmi(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """I(l, c) / ((H(l) + H(c)) / 2), straight from the definitions."""
    n = len(y_true)
    _, a = np.unique(y_true, return_inverse=True)
    _, b = np.unique(y_pred, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    for i, j in zip(a, b):
        joint[i, j] += 1
    p = joint / n
    pa, pb = p.sum(1), p.sum(0)
    h_a = -np.sum(pa[pa > 0] * np.log(pa[pa > 0]))
    h_b = -np.sum(pb[pb > 0] * np.log(pb[pb > 0]))
    nz = p > 0
    mi = np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz]))
    return mi / ((h_a + h_b) / 2)


# ----------------------------------------------------------------------------------
# contingency
# ----------------------------------------------------------------------------------
def test_contingency_small_example():
    table = contingency(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 0, 0, 1, 1]))
    np.testing.assert_array_equal(table, [[0, 2], [1, 0], [1, 2]])
    assert table.dtype == np.int64


def test_contingency_matches_loop_and_pads():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 3, 200)
    table = contingency(a, b, n_a=6, n_b=5)
    expected = np.zeros((6, 5), dtype=int)
    for i, j in zip(a, b):
        expected[i, j] += 1
    np.testing.assert_array_equal(table, expected)
    assert table.sum() == 200


@pytest.mark.parametrize(
    "a, b, kwargs, match",
    [
        ([0, -1], [0, 0], {}, "a contains the negative code -1"),
        ([0, 3], [0, 0], {"n_a": 3}, "a contains the code 3, but n_a=3"),
        ([0, 1], [0, 1], {"n_b": 0}, "n_b must be a positive integer, got 0"),
        ([0, 1], [0, 1, 1], {}, "a has 2 elements but b has 3"),
    ],
)
def test_contingency_bad_inputs(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        contingency(np.array(a), np.array(b), **kwargs)


# ----------------------------------------------------------------------------------
# accuracy
# ----------------------------------------------------------------------------------
def test_accuracy_permuted_labels_is_one():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    perm = np.array([2, 3, 1, 0])
    assert accuracy(y, perm[y]) == 1.0
    assert nmi(y, perm[y]) == pytest.approx(1.0)


def test_accuracy_hand_computed():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([1, 1, 0, 0, 0, 0])
    # best map: cluster 1 -> class 0 (2 hits), cluster 0 -> class 1 (3 hits)
    assert accuracy(y_true, y_pred) == pytest.approx(5 / 6)


def test_accuracy_arbitrary_label_ids():
    y_true = np.array([-3, -3, 10, 10, 7])
    y_pred = np.array([100, 100, 42, 42, 42])
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 5)


def test_accuracy_more_clusters_than_classes():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    # only one of clusters {0, 1} can take class 0; the other counts as errors
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_accuracy_fewer_clusters_than_classes():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.zeros(7, dtype=int)
    assert accuracy(y_true, y_pred) == pytest.approx(3 / 7)


@pytest.mark.parametrize("k_true, k_pred", [(3, 3), (4, 4), (3, 5), (5, 3), (2, 4)])
def test_accuracy_matches_brute_force(k_true, k_pred):
    rng = np.random.default_rng(k_true * 10 + k_pred)
    for _ in range(5):
        n = 60
        y_true = rng.integers(0, k_true, n) * 7 - 3  # ids not 0..k-1
        # correlated predictions: noisy copy passed through a random map
        y_pred = np.where(rng.random(n) < 0.6, y_true % k_pred, rng.integers(0, k_pred, n))
        y_pred = rng.permutation(k_pred)[y_pred] + 11
        assert accuracy(y_true, y_pred) == pytest.approx(brute_force_accuracy(y_true, y_pred))


def test_accuracy_bounds_on_random_labels():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    acc = accuracy(y_true, y_pred)
    assert 0.1 <= acc < 0.3


# ----------------------------------------------------------------------------------
# nmi
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_nmi_matches_numpy_formula(seed):
    rng = np.random.default_rng(seed)
    k_true, k_pred = rng.integers(2, 8, size=2)
    y_true = rng.integers(0, k_true, 300)
    y_pred = np.where(rng.random(300) < 0.5, y_true % k_pred, rng.integers(0, k_pred, 300))
    assert nmi(y_true, y_pred) == pytest.approx(numpy_nmi(y_true, y_pred), abs=1e-10)


def test_nmi_hand_computed():
    # y_true splits 4 points 2/2, y_pred refines it 1/1/2.
    # H(l) = log 2, H(c) = 1.5 log 2, I = H(l) = log 2  ->  NMI = 1 / 1.25 = 0.8
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 2, 2])
    assert nmi(y_true, y_pred) == pytest.approx(0.8)


def test_nmi_independent_labelings_is_zero():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 0, 1])
    assert nmi(y_true, y_pred) == pytest.approx(0.0, abs=1e-12)


def test_nmi_symmetric():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 100), rng.integers(0, 6, 100)
    assert nmi(a, b) == pytest.approx(nmi(b, a))


# ----------------------------------------------------------------------------------
# cluster_metrics
# ----------------------------------------------------------------------------------
def test_cluster_metrics():
    y = np.array([0, 0, 1, 1])
    assert cluster_metrics(y, 1 - y) == {"acc": 1.0, "nmi": pytest.approx(1.0)}
    assert cluster_metrics(None, y) == {"acc": None, "nmi": None}


# ----------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [accuracy, nmi, cluster_metrics])
def test_metrics_reject_2d_predictions(fn):
    with pytest.raises(
        ValueError,
        match=r"y_pred has shape \(5, 2\), expected a 1-D array of cluster ids",
    ):
        fn(np.zeros(10, dtype=int), np.zeros((5, 2), dtype=int))


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        (np.zeros(3, int), np.zeros(4, int), "y_true has 3 elements but y_pred has 4"),
        (np.zeros(0, int), np.zeros(0, int), "y_true is empty"),
        (np.zeros(3), np.zeros(3, int), "y_true has dtype float64, expected an integer"),
        (np.zeros(3, int), np.array([0.5, 1, 2]), "y_pred has dtype float64"),
        (np.zeros((3, 1), int), np.zeros(3, int), r"y_true has shape \(3, 1\)"),
        (np.int64(3), np.zeros(3, int), r"y_true has shape \(\)"),
    ],
)
def test_accuracy_bad_inputs(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        accuracy(y_true, y_pred)


def test_accepts_lists():
    assert accuracy([0, 1, 1], [1, 0, 0]) == 1.0


# ----------------------------------------------------------------------------------
# align_labels
# ----------------------------------------------------------------------------------
def test_align_labels_recovers_permutation_exactly():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 6, 200) * 3 + 1  # ids 1, 4, ..., 16
    perm = {v: w for v, w in zip(np.unique(reference), rng.permutation(6) + 50)}
    other = np.array([perm[v] for v in reference])
    aligned = align_labels(reference, other)
    np.testing.assert_array_equal(aligned, reference)
    assert aligned.dtype == np.int64


def test_align_labels_noisy_copy():
    reference = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    other = np.array([2, 2, 0, 0, 0, 0, 1, 1, 1])  # one point moved; ids permuted
    np.testing.assert_array_equal(
        align_labels(reference, other), [0, 0, 1, 1, 1, 1, 2, 2, 2]
    )


def test_align_labels_extra_clusters_get_fresh_ids():
    reference = np.array([0, 0, 0, 5, 5, 5])
    other = np.array([7, 7, 8, 3, 3, 9])
    aligned = align_labels(reference, other)
    # 7 -> 0, 3 -> 5; unmatched 8 and 9 get ids above max(reference) in order
    np.testing.assert_array_equal(aligned, [0, 0, 6, 5, 5, 7])
    # the partition itself is unchanged
    assert accuracy(other, aligned) == 1.0


def test_align_labels_fewer_clusters():
    reference = np.array([0, 0, 1, 1, 2, 2])
    other = np.array([4, 4, 4, 4, 9, 9])
    np.testing.assert_array_equal(align_labels(reference, other), [0, 0, 0, 0, 2, 2])


def test_align_labels_bad_inputs():
    with pytest.raises(ValueError, match="reference has 3 elements but other has 2"):
        align_labels([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"other has shape \(2, 2\)"):
        align_labels([0, 1, 2, 3], [[0, 1], [0, 1]])


# ----------------------------------------------------------------------------------
# vote
# ----------------------------------------------------------------------------------
def test_vote_three_permuted_copies_returns_first():
    rng = np.random.default_rng(0)
    best = rng.integers(0, 5, 100)
    runs = [best, rng.permutation(5)[best] + 10, rng.permutation(5)[best] - 20]
    np.testing.assert_array_equal(vote(runs), best)


def test_vote_majority_overrides_best_run():
    best = np.array([0, 0, 1, 1, 2, 2])
    second = np.array([1, 1, 2, 2, 0, 0])  # same partition, different ids
    third = np.array([0, 0, 1, 1, 2, 2])
    best_noisy = best.copy()
    best_noisy[0] = 2  # the best run alone disagrees on point 0
    np.testing.assert_array_equal(vote([best_noisy, second, third]), best)


def test_vote_three_way_tie_goes_to_best_run():
    best = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    second = np.array([0, 0, 0, 1, 1, 1, 2, 2, 1])  # last point: 1
    third = np.array([0, 0, 0, 1, 1, 1, 2, 2, 0])  # last point: 0
    # point 8 gets 2, 1, 0 from the three runs -> best run's label 2
    np.testing.assert_array_equal(vote([best, second, third]), best)


def test_vote_two_runs_disagreement_goes_to_best():
    best = np.array([0, 0, 1, 1, 1])
    other = np.array([0, 0, 1, 1, 0])
    np.testing.assert_array_equal(vote([best, other]), best)
    np.testing.assert_array_equal(vote([other, best]), other)


def test_vote_tie_among_non_best_goes_to_earliest_run():
    # 5 runs, point 0 gets labels a, b, c, b, c: b and c tie at 2, b appears first.
    base = np.array([0, 0, 1, 1, 2, 2, 0])
    runs = [base.copy() for _ in range(5)]
    for r, label in zip(range(5), [0, 1, 2, 1, 2]):
        runs[r][6] = label
    np.testing.assert_array_equal(vote(runs)[6], 1)


def test_vote_single_run_is_identity():
    y = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(vote([y]), y)


def test_vote_accepts_2d_array_and_rectangular_runs():
    best = np.array([0, 0, 1, 1, 2, 2])
    split = np.array([0, 0, 1, 1, 2, 3])  # an extra cluster
    merged = np.array([0, 0, 0, 0, 2, 2])  # one fewer
    out = vote(np.stack([best, split, merged]))
    np.testing.assert_array_equal(out, best)


def test_vote_large_is_vectorised():
    rng = np.random.default_rng(0)
    best = rng.integers(0, 10, 100_000)
    noisy = [np.where(rng.random(best.size) < 0.2, rng.integers(0, 10, best.size), best)
             for _ in range(2)]
    out = vote([best, rng.permutation(10)[noisy[0]], rng.permutation(10)[noisy[1]]])
    assert accuracy(best, out) > 0.95
    assert out.shape == best.shape


@pytest.mark.parametrize(
    "labelings, match",
    [
        ([], "labelings is empty"),
        (
            [np.zeros(3, int), np.zeros(4, int)],
            r"labelings\[0\] has 3 elements but labelings\[1\] has 4",
        ),
        ([np.zeros(3, int), np.zeros(3)], "labelings\\[1\\] has dtype float64"),
        (np.zeros(3, int), "labelings is a 1-D array of shape \\(3,\\)"),
    ],
)
def test_vote_bad_inputs(labelings, match):
    with pytest.raises(ValueError, match=match):
        vote(labelings)


def test_vote_matches_the_extra_clusters_of_the_runs_to_each_other():
    """Clusters the best run does not have get one id across the runs that share them, whatever
    ids each run gave them (the same partition under other ids votes alike)."""
    best = np.zeros(6, np.int64)
    split = np.array([0, 0, 1, 1, 2, 2])
    renamed = np.array([0, 0, 2, 2, 1, 1])
    np.testing.assert_array_equal(vote([best, split, renamed]), vote([best, split, split]))
    np.testing.assert_array_equal(vote([best, split, renamed]), [0, 0, 1, 1, 2, 2])
    best = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(vote([best, np.array([0, 0, 0, 0, 1, 1, 2, 3]), np.array([0, 0, 0, 0, 1, 1, 3, 2])]),
                                  [0, 0, 0, 0, 1, 1, 2, 3])
