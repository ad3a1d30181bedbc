"""Tests for ddc_tf.baselines: the k-means++ baseline."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from ddc_tf.baselines import kmeans, kmeans_baseline
from ddc_tf.evaluation import accuracy


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x, y


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y = np.repeat(np.arange(3), 50)
    x = centers[y] + rng.normal(scale=0.5, size=(150, 2))
    return x, y


def test_kmeans_baseline_digits_ballpark_and_deterministic(digits):
    x, y = digits
    first = kmeans_baseline(x, y, n_clusters=10, n_init=20, seed=0)
    # k-means++ on raw sklearn digits: ACC ~0.7-0.8, NMI ~0.7-0.75
    assert 0.65 <= first["acc"] <= 0.85
    assert 0.65 <= first["nmi"] <= 0.8
    assert first["labels"].shape == (1797,)
    assert first["labels"].dtype == np.int64
    assert set(np.unique(first["labels"])) == set(range(10))

    again = kmeans_baseline(x, y, n_clusters=10, n_init=20, seed=0)
    np.testing.assert_array_equal(first["labels"], again["labels"])
    assert first["acc"] == again["acc"] and first["nmi"] == again["nmi"]


def test_kmeans_separable_blobs(blobs):
    x, y = blobs
    assert accuracy(y, kmeans(x, 3, n_init=5, seed=1)) == 1.0


def test_kmeans_flattens_higher_rank(blobs):
    x, y = blobs
    x4 = np.concatenate([x, x], axis=1).reshape(150, 2, 2, 1)  # image-like (n, h, w, c)
    flat = np.concatenate([x, x], axis=1)
    np.testing.assert_array_equal(kmeans(x4, 3, seed=0), kmeans(flat, 3, seed=0))


def test_kmeans_sparse_input(blobs):
    x, y = blobs
    x_pos = x - x.min() + 1.0  # dense-valued but stored as CSR
    labels = kmeans(sp.csr_matrix(x_pos), 3, n_init=5, seed=0)
    assert accuracy(y, labels) == 1.0
    # CSC and other sparse formats are converted, not rejected
    assert accuracy(y, kmeans(sp.csc_matrix(x_pos), 3, n_init=5, seed=0)) == 1.0


def test_kmeans_integer_features(blobs):
    x, y = blobs
    x_int = np.round(x * 10).astype(np.int32)
    assert accuracy(y, kmeans(x_int, 3, n_init=5, seed=0)) == 1.0


def test_kmeans_baseline_without_labels(blobs):
    x, _ = blobs
    result = kmeans_baseline(x, None, 3, n_init=2)
    assert result["acc"] is None and result["nmi"] is None
    assert result["labels"].shape == (150,)


@pytest.mark.parametrize(
    "x, k, kwargs, match",
    [
        (np.zeros((5, 2)), 6, {}, "n_clusters=6 is larger than the number of samples \\(5\\)"),
        (np.zeros((5, 2)), 0, {}, "n_clusters must be a positive integer, got 0"),
        (np.zeros((5, 2)), 2.5, {}, "n_clusters must be a positive integer, got 2.5"),
        (np.zeros((5, 2)), 2, {"n_init": 0}, "n_init must be a positive integer, got 0"),
        (np.zeros((0, 2)), 2, {}, "x has shape \\(0, 2\\), expected at least one sample"),
        (np.array(["a", "b"]), 1, {}, "x has dtype <U1, expected numeric features"),
    ],
)
def test_kmeans_bad_inputs(x, k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kmeans(x, k, **kwargs)


def test_kmeans_baseline_label_length_mismatch(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="y has 149 labels but x has 150 samples"):
        kmeans_baseline(x, y[:-1], 3)
