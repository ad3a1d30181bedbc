"""The exact median of the strict upper triangle: the sort path and the selection path."""

import numpy as np
import pytest
import tensorflow as tf

from ddc_tf import losses as L


def numpy_median(d: np.ndarray) -> float:
    return float(np.median(d[np.triu_indices(d.shape[0], 1)]))


def distances(m: int, decimals: int | None, seed: int) -> np.ndarray:
    h = np.random.default_rng(seed).normal(size=(m, 3))
    if decimals is not None:  # many exactly repeated distances
        h = np.round(h, decimals)
    return L.pairwise_sq_dists(h.astype(np.float32)).numpy()


@pytest.mark.parametrize("m", [2, 3, 4, 255, 256, 257, 300])
@pytest.mark.parametrize("decimals", [None, 0])
def test_median_matches_numpy_on_both_paths(m, decimals):
    d = distances(m, decimals, seed=m)
    assert float(L.upper_triangle_median(tf.constant(d))) == numpy_median(d)


@pytest.mark.parametrize("m", [2, 5, 40, 101])
@pytest.mark.parametrize("decimals", [None, 0, 1])
def test_selection_equals_sort(m, decimals):
    d = distances(m, decimals, seed=100 + m)
    masked = np.where(np.triu(np.ones((m, m), bool), 1), d, np.inf).reshape(-1)
    n_pairs = tf.constant(m * (m - 1) // 2)
    by_sort = [float(v) for v in L._middle_pair_by_sort(tf.constant(masked), n_pairs)]
    by_selection = [float(v) for v in L._middle_pair_by_selection(tf.constant(masked), n_pairs)]
    assert by_selection == by_sort


def test_selection_path_identical_points_and_xla():
    d = np.zeros((300, 300), np.float32)  # all distances 0: median 0, no division trouble
    assert float(L.upper_triangle_median(tf.constant(d))) == 0.0
    compiled = tf.function(L.upper_triangle_median, jit_compile=True)
    d = distances(300, 1, seed=7)
    assert float(compiled(tf.constant(d))) == numpy_median(d)


def test_kth_smallest_bits_every_rank():
    values = np.array([0.0, 3.5, 3.5, 1e-30, 7.0, np.inf, 2.0], np.float32)
    bits = tf.bitcast(tf.constant(values), tf.int32)
    ordered = np.sort(values)
    for k in range(len(values)):
        got = tf.bitcast(L._kth_smallest_bits(bits, tf.constant(k)), tf.float32)
        assert float(got) == ordered[k]
