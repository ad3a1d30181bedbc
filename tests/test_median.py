"""The exact median of the strict upper triangle, by selection on the float bit patterns."""

import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.losses import ddc as L


def numpy_median(d: np.ndarray) -> float:
    return float(np.median(d[np.triu_indices(d.shape[0], 1)]))


def distances(m: int, decimals: int | None, seed: int) -> np.ndarray:
    h = np.random.default_rng(seed).normal(size=(m, 3))
    if decimals is not None:  # many exactly repeated distances
        h = np.round(h, decimals)
    return L.pairwise_sq_dists(h.astype(np.float32)).numpy()


@pytest.mark.parametrize("m", [2, 3, 4, 255, 256, 257, 300])
@pytest.mark.parametrize("decimals", [None, 0])
def test_median_matches_numpy(m, decimals):
    d = distances(m, decimals, seed=m)
    assert float(L.upper_triangle_median(tf.constant(d))) == numpy_median(d)


@pytest.mark.parametrize("m", [2, 5, 40, 101])
@pytest.mark.parametrize("decimals", [None, 0, 1])
def test_selection_gives_both_middle_values(m, decimals):
    d = distances(m, decimals, seed=100 + m)
    masked = np.where(np.triu(np.ones((m, m), bool), 1), d, np.inf).reshape(-1)
    n_pairs = m * (m - 1) // 2
    ordered = np.sort(masked)
    want = [float(ordered[max((n_pairs - 1) // 2, 0)]), float(ordered[n_pairs // 2])]
    got = [float(v) for v in L._middle_pair_by_selection(tf.constant(masked), tf.constant(n_pairs))]
    assert got == want


def test_identical_points_and_xla():
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
