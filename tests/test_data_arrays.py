"""ArrayData structure checks and the shared validation helpers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from ddc_tf.data.arrays import (
    ArrayData,
    as_float32_csr,
    balance_classes,
    check_finite,
    check_labels,
    check_n_clusters,
    dense_images,
    dense_vectors,
)


def _vectors(n=5, d=3, y=True, **kw):
    return ArrayData(
        x=np.zeros((n, d), np.float32),
        y=np.arange(n, dtype=np.int64) % 2 if y else None,
        name="toy",
        kind="vector",
        raw_dtype="float32",
        scale=1.0,
        **kw,
    )


def test_properties():
    data = _vectors(n=6, d=4)
    assert data.n == 6 and data.input_shape == (4,) and data.n_classes == 2
    assert not data.is_sparse
    assert "n=6" in repr(data)
    assert _vectors(y=False).n_classes is None


def test_sparse_properties():
    x = scipy.sparse.random(10, 7, density=0.3, format="csr", dtype=np.float32, random_state=0)
    data = ArrayData(x=x, y=None, name="sp", kind="vector", raw_dtype="float32", scale=1.0)
    assert data.is_sparse and data.input_shape == (7,) and data.n == 10


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(x=np.zeros((5, 3), np.float64)), TypeError, "float32"),
        (dict(y=np.zeros(4, np.int64)), ValueError, "4 labels for 5 examples"),
        (dict(y=np.zeros(5, np.int32)), TypeError, "int64"),
        (dict(kind="text"), ValueError, "kind"),
        (dict(x=np.zeros((0, 3), np.float32), y=None), ValueError, "empty"),
        (dict(kind="image"), ValueError, r"\(n, h, w, c\)"),
        (dict(scale=0.0), ValueError, "scale"),
        (dict(image_shape=(2, 2)), ValueError, "image_shape"),
        (dict(x=scipy.sparse.csc_matrix(np.zeros((5, 3), np.float32))), TypeError, "csr_matrix"),
    ],
)
def test_structure_errors_name_the_data(change, error, match):
    base = dict(
        x=np.zeros((5, 3), np.float32),
        y=np.zeros(5, np.int64),
        name="toy",
        kind="vector",
        raw_dtype="float32",
        scale=1.0,
    )
    base.update(change)
    with pytest.raises(error, match=match) as info:
        ArrayData(**base)
    assert "toy" in str(info.value)


def test_frozen():
    data = _vectors()
    with pytest.raises(AttributeError):
        data.name = "other"


def test_check_finite_reports_counts_and_position():
    values = np.ones((3, 4), np.float32)
    values[1, 2] = np.nan
    values[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"f.npz: 2 non-finite values \(1 NaN, 1 Inf\); first at index \(1, 2\)"):
        check_finite(values, "f.npz")
    check_finite(np.arange(3), "ints are fine")


def test_check_labels():
    assert check_labels(np.array([0, 2, 1], np.uint8), 3, "f").dtype == np.int64
    with pytest.raises(ValueError, match="dtype float"):
        check_labels(np.array([0.0, 1.0]), 2, "f")
    with pytest.raises(ValueError, match="3 labels in 'y' for 2 examples"):
        check_labels(np.array([0, 1, 1]), 2, "f")
    with pytest.raises(ValueError, match="negative"):
        check_labels(np.array([0, -1]), 2, "f")
    with pytest.raises(ValueError, match="shape"):
        check_labels(np.zeros((2, 1), int), 2, "f")


def test_check_n_clusters():
    data = _vectors(n=5)
    check_n_clusters(data, 5)
    check_n_clusters(data, None)
    with pytest.raises(ValueError, match="toy: 5 points, fewer than the 6 clusters"):
        check_n_clusters(data, 6)
    with pytest.raises(ValueError, match=">= 1"):
        check_n_clusters(data, 0)


def test_dense_images_scaling_and_channels():
    raw = np.full((2, 4, 5), 255, np.uint8)
    x, raw_dtype, scale = dense_images(raw, "f")
    assert x.shape == (2, 4, 5, 1) and x.dtype == np.float32 and raw_dtype == "uint8"
    np.testing.assert_allclose(x, 1.0)
    assert scale == pytest.approx(1 / 255)
    with pytest.raises(ValueError, match="channels-first"):
        dense_images(np.zeros((2, 3, 8, 8), np.uint8), "f")
    with pytest.raises(ValueError, match="NaN"):
        dense_images(np.full((1, 2, 2), np.nan, np.float32), "f")
    with pytest.raises(ValueError, match="dtype"):
        dense_images(np.zeros((1, 2, 2), np.complex64), "f")


def test_dense_vectors():
    x, raw_dtype, scale = dense_vectors(np.array([[1, 2]], np.int16), "f")
    assert raw_dtype == "int16" and scale == 1.0 and x.tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="cannot be held exactly"):
        dense_vectors(np.array([[2**30]], np.int64), "f")


def test_csr_validation_and_canonical_form():
    # duplicates and unsorted columns in row 0 -> summed and sorted
    m = as_float32_csr(np.array([1.0, 2.0, 3.0]), np.array([2, 0, 2]), np.array([0, 3, 3]), [2, 3], "f")
    assert m.dtype == np.float32 and m.has_canonical_format
    np.testing.assert_array_equal(m.toarray(), [[2, 0, 4], [0, 0, 0]])
    args = dict(data=np.ones(2), indices=np.array([0, 1]), indptr=np.array([0, 1, 2]), shape=[2, 2])
    bad = [
        (dict(indices=np.array([0, 5])), r"outside \[0, 2\)"),
        (dict(indptr=np.array([0, 1])), "n \\+ 1"),
        (dict(indptr=np.array([0, 2, 1])), "truncated or corrupt"),
        (dict(data=np.array([1.0, np.nan])), "NaN"),
        (dict(shape=[2, 2, 2]), r"\[n, d\]"),
        (dict(indices=np.array([0])), "indices"),
        (dict(data=np.ones(0), indices=np.zeros(0, int), indptr=np.zeros(0, int), shape=[-1, 5]),
         r"CSR shape is \(-1, 5\); a data set needs n ≥ 1 rows"),  # the shape first, not an IndexError
    ]
    for change, match in bad:
        with pytest.raises(ValueError, match=match):
            as_float32_csr(**{**args, **change}, where="f.npz")


def test_balance_classes_is_seeded_and_balanced():
    y = np.array([0] * 10 + [1] * 4 + [2] * 7)
    keep = balance_classes(y, seed=1)
    assert np.all(np.diff(keep) > 0)
    assert np.bincount(y[keep]).tolist() == [4, 4, 4]
    np.testing.assert_array_equal(keep, balance_classes(y, seed=1))
    assert not np.array_equal(keep, balance_classes(y, seed=2))
    assert np.bincount(y[balance_classes(y, per_class=2)]).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="smallest class has 4"):
        balance_classes(y, per_class=5)


def test_a_label_without_a_class_name_is_refused():
    """One class name per label value: a label past the names (a TFDS or .npz source whose names are
    fewer than its classes) is named, for every source, by ArrayData itself."""
    with pytest.raises(ValueError, match=r"d: label 2 has no name among the 2 class names"):
        ArrayData(x=np.zeros((3, 2), np.float32), y=np.array([0, 1, 2]), name="d", kind="vector",
                  raw_dtype="float32", scale=1.0, class_names=("a", "b"))
