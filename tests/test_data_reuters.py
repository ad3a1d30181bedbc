"""reuters / reuters10k: DEC's protocol on a synthetic bunch laid out like fetch_rcv1's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.utils import Bunch

from ddc_tf.data import load_arrays, to_dataset
from ddc_tf.data import reuters

CATEGORIES = np.array(["C15", "CCAT", "E21", "ECAT", "G15", "GCAT", "M11", "MCAT"], dtype=object)


def fake_rcv1(n=400, n_terms=60, seed=0):
    """A bunch with fetch_rcv1's layout: data CSR float64 (n, terms), target CSR (n, 8)."""
    rng = np.random.default_rng(seed)
    # term t appears with probability decreasing in t -> known frequency order
    p = np.linspace(0.6, 0.01, n_terms)
    counts = rng.random((n, n_terms)) < p
    data = scipy.sparse.csr_matrix(counts * rng.random((n, n_terms)) + counts * 0.1)
    roots = np.zeros((n, 4), np.uint8)
    roots[np.arange(n), rng.integers(0, 4, n)] = 1
    roots[:20, :] = 0  # no root
    roots[20:50, 0] = roots[20:50, 1] = 1  # two roots: excluded
    target = np.zeros((n, len(CATEGORIES)), np.uint8)
    target[:, [1, 3, 5, 7]] = roots
    target[:, [0, 2]] = rng.random((n, 2)) < 0.3  # sub-categories are ignored
    bunch = Bunch(
        data=data,
        target=scipy.sparse.csr_matrix(target),
        sample_id=np.arange(n, dtype=np.uint32),
        target_names=CATEGORIES,
    )
    return bunch, roots


@pytest.fixture
def rcv1(monkeypatch):
    bunch, roots = fake_rcv1()
    calls = []

    def fetch(data_home=None, subset="all", download_if_missing=True):
        calls.append((data_home, subset, download_if_missing))
        return bunch

    monkeypatch.setattr(reuters, "fetch_rcv1", fetch)
    return bunch, roots, calls


def test_single_root_stories(rcv1):
    bunch, roots, _ = rcv1
    x, y = reuters.single_root_stories(bunch)
    single = roots.sum(1) == 1
    assert x.shape[0] == single.sum() and x.dtype == np.float32
    np.testing.assert_array_equal(y, roots[single].argmax(1))


def test_reuters_protocol(rcv1):
    bunch, roots, calls = rcv1
    data = load_arrays("reuters", data_home="/cache", n_terms=20, n_clusters=4)
    assert calls == [("/cache", "all", True)]
    assert data.is_sparse and data.kind == "vector" and data.x.shape[1] == 20
    assert data.class_names == ("CCAT", "ECAT", "GCAT", "MCAT")
    counts = np.bincount(data.y)
    single = roots[roots.sum(1) == 1]
    assert counts.tolist() == [single.sum(0).min()] * 4  # balanced to the smallest root
    norms = np.sqrt(np.asarray(data.x.multiply(data.x).sum(1))).ravel()
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    assert data.x.has_canonical_format


def test_top_terms_are_the_most_frequent():
    x = scipy.sparse.csr_matrix(np.array([[1, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1]], np.float32))
    np.testing.assert_array_equal(reuters.top_terms(x, 2), [0, 3])
    bunch, _ = fake_rcv1()
    xs, _ = reuters.single_root_stories(bunch)
    np.testing.assert_array_equal(reuters.top_terms(xs, 10), np.arange(10))  # p decreasing


def test_per_class_and_seed(rcv1):
    a = load_arrays("reuters", per_class=30, seed=0, n_terms=20)
    b = load_arrays("reuters", per_class=30, seed=0, n_terms=20)
    c = load_arrays("reuters", per_class=30, seed=1, n_terms=20)
    assert np.bincount(a.y).tolist() == [30] * 4
    assert (a.x != b.x).nnz == 0 and (a.x != c.x).nnz > 0
    with pytest.raises(ValueError, match="reuters: per_class=5000"):
        load_arrays("reuters", per_class=5000)


def test_reuters10k_variant(rcv1):
    data = load_arrays("reuters10k", n=100, n_terms=20, seed=3)
    assert data.name == "reuters10k" and data.n == 100 and data.x.shape[1] == 20
    with pytest.raises(ValueError, match="reuters10k: n=10000 but only"):
        load_arrays("reuters10k")


def test_pipeline_densifies_reuters_batches(rcv1):
    data = load_arrays("reuters", n_terms=20)
    x, y = next(iter(to_dataset(data, batch_size=16, shuffle=False)))
    np.testing.assert_allclose(x.numpy(), data.x[:16].toarray())


def test_nan_in_the_matrix_is_refused(monkeypatch):
    bunch, _ = fake_rcv1()
    bunch.data.data[-1] = np.nan  # the last story carries one root
    monkeypatch.setattr(reuters, "fetch_rcv1", lambda **kw: bunch)
    with pytest.raises(ValueError, match="reuters.*NaN"):
        load_arrays("reuters")


def test_missing_cache_is_clear(monkeypatch, tmp_path):
    def fetch(**kwargs):
        raise OSError("Data not found and `download_if_missing` is False")

    monkeypatch.setattr(reuters, "fetch_rcv1", fetch)
    with pytest.raises(FileNotFoundError, match=f"reuters: RCV1 is not cached in {tmp_path}"):
        load_arrays("reuters", data_home=tmp_path, download=False)


def test_bunch_without_roots(monkeypatch):
    bunch, _ = fake_rcv1()
    bunch.target_names = np.array(["A", "B", "C", "D", "E", "F", "G", "H"], dtype=object)
    monkeypatch.setattr(reuters, "fetch_rcv1", lambda **kw: bunch)
    with pytest.raises(ValueError, match="no categor"):
        load_arrays("reuters")
