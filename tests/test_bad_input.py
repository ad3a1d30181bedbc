"""Bad input found by a hostile-user fuzz: each case a clear error or a correct result.

(The seeded fuzz itself is ``test_fuzz.py``; these are the cases it was built from.)
"""

from __future__ import annotations

import gzip
import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from ddc_tf.cli import main
from ddc_tf.data import load_arrays
from ddc_tf.data.arrays import ArrayData, as_float32_csr, check_labels, dense_vectors
from ddc_tf.data.idx import read_idx, read_idx_header, iter_idx_chunks
from ddc_tf.data.images import _as_size
from ddc_tf.data.sklearn_sources import load_circles
from ddc_tf.data.streaming import write_shards
from ddc_tf.losses import ddc_loss
from ddc_tf.losses.sinkhorn import Geometry, Problem


def _idx(path, shape, payload=b"", compress=False):
    data = bytes([0, 0, 0x08, len(shape)]) + np.asarray(shape, ">u4").tobytes() + payload
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --------------------------------------------------------------------------- 1. zero-size dimensions
@pytest.mark.parametrize("shape", [(50, 0), (5, 4, 4, 0), (5, 0, 4, 1)])
def test_zero_size_dimensions_are_refused(shape):
    kind = "vector" if len(shape) == 2 else "image"
    with pytest.raises(ValueError, match="dimension of size 0"):
        ArrayData(x=np.zeros(shape, np.float32), y=None, name="zeros", kind=kind, raw_dtype="float32", scale=1.0)


def test_fit_on_an_empty_feature_axis_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros((50, 0), np.float32))
    assert main(["fit", "--data", str(path), "--clusters", "2", "--steps", "2", "--runs", "1",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ddc-tf fit: error:") and "size 0" in err and len(err.strip().splitlines()) == 1


def test_idx_with_a_zero_dimension_is_refused(tmp_path):
    path = _idx(tmp_path / "train-images-idx3-ubyte", (3, 0, 5))
    with pytest.raises(ValueError, match="dimension of size 0"):
        read_idx(path)


# --------------------------------------------------------------------------- 2. beyond float32
def test_float64_beyond_float32_range_is_refused():
    with pytest.raises(ValueError, match="exceed float32's range"):
        dense_vectors(np.array([[1e300, 0.0], [1.0, 2.0]]), "big.npz")
    with pytest.raises(ValueError, match="exceed float32's range"):
        as_float32_csr(np.array([1e300]), np.array([0]), np.array([0, 1]), (1, 2), "big.npz")


def test_sparse_integers_beyond_float32_precision_are_refused():
    with pytest.raises(ValueError, match="exactly in float32"):
        as_float32_csr(np.array([2**25 + 1]), np.array([0]), np.array([0, 1]), (1, 2), "ints.npz")


def test_uint64_labels_beyond_int64_are_refused():
    with pytest.raises(ValueError, match="beyond int64"):
        check_labels(np.array([1, 2**63 + 5], dtype=np.uint64), 2, "labels.npz")


# --------------------------------------------------------------------------- 3. memory
def test_gzip_bomb_is_refused_reading_no_more_than_announced(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + np.asarray((1, 2, 2), ">u4").tobytes() + bytes(50_000_000)))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="trailing bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * path.stat().st_size + (1 << 20), peak


@pytest.mark.parametrize("shape", [(100, 65536, 65536), (2**32 - 1, 2**32 - 1, 2**32 - 1)])
@pytest.mark.parametrize("compress", [False, True])
def test_huge_headers_are_refused_before_allocating(tmp_path, shape, compress):
    path = _idx(tmp_path / ("x.gz" if compress else "x"), shape, payload=bytes(100), compress=compress)
    for read in (read_idx, lambda p: next(iter_idx_chunks(p))):
        with pytest.raises(ValueError, match="truncated|can hold"):
            read(path)
    assert read_idx_header(path).nbytes == int(np.prod(np.asarray(shape, dtype=object)))  # no overflow


def test_write_shards_refuses_an_empty_idx(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    _idx(folder / "train-images-idx3-ubyte", (0, 4, 4))
    with pytest.raises(ValueError, match="size 0|nothing to write"):
        write_shards(folder, tmp_path / "shards")


# --------------------------------------------------------------------------- 5. resume guard
def test_a_changed_data_file_with_the_same_size_is_not_reused(tmp_path, capsys):
    path = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(60, 3)).astype(np.float32))
    argv = ["fit", "--data", str(path), "--clusters", "2", "--steps", "4", "--runs", "1", "--batch-size", "20",
            "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 0
    record = json.loads((tmp_path / "out" / "runs" / "seed_0" / "run.json").read_text())
    assert len(record["data_fingerprint"]) == 32
    assert not (tmp_path / "out" / "runs" / "seed_0" / "backup").exists()  # removed once finished
    capsys.readouterr()
    assert main(argv[:-1]) == 0 and "run 1/1 (seed 0): loss" in capsys.readouterr().out  # without --quiet
    assert main(argv[:-1]) == 0 and "reused (finished before)" in capsys.readouterr().out
    np.savez(path, x=rng.normal(size=(60, 3)).astype(np.float32))  # same name and n, other values
    assert main(argv) == 2
    assert "trained on other data" in capsys.readouterr().err


# --------------------------------------------------------------------------- 6. smaller ones
def test_export_name_with_a_trailing_newline_is_refused(tmp_path):
    from ddc_tf.serving.export import _check_name

    with pytest.raises(ValueError):
        _check_name("model\n")
    assert _check_name("model-1.2") == "model-1.2"


@pytest.mark.parametrize("size", [True, 1.5, "28", (28,), (28, 0), (28.0, 28)])
def test_image_size_must_be_positive_ints(size):
    with pytest.raises(ValueError, match="image_size"):
        _as_size(size)
    assert _as_size(np.int64(8)) == (8, 8) and _as_size([4, 6]) == (4, 6)


def test_loader_options_of_the_wrong_type_are_value_errors():
    with pytest.raises(ValueError, match="n must be an integer"):
        load_circles(n="10")
    with pytest.raises(ValueError, match="noise must be a number"):
        load_circles(noise="0.1")


def test_an_empty_source_name_is_refused():
    with pytest.raises(ValueError, match="no data source"):
        load_arrays("")


def test_ddc_loss_shapes_and_empty_batches():
    with pytest.raises(ValueError, match="rows"):
        ddc_loss(tf.zeros((4, 3)), tf.fill((5, 2), 0.5))
    with pytest.raises(ValueError, match="shapes"):
        ddc_loss(tf.zeros((4,)), tf.fill((4, 2), 0.5))
    with pytest.raises(ValueError, match="empty"):
        ddc_loss(tf.zeros((0, 3)), tf.zeros((0, 2)))


def test_ddc_loss_is_finite_for_huge_hidden_values():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(20, 4)).astype(np.float32)
    a = tf.nn.softmax(tf.constant(rng.normal(size=(20, 3)), tf.float32))
    base = ddc_loss(tf.constant(hidden), a)
    for scale, offset in ((1e19, 0.0), (1.0, 1e19), (1e-30, 0.0)):
        terms = ddc_loss(tf.constant(hidden * np.float32(scale) + np.float32(offset)), a)
        assert all(np.isfinite(float(v)) for v in terms.values())
        if offset == 0.0:  # the kernel is scale-invariant
            np.testing.assert_allclose(float(terms["total"]), float(base["total"]), rtol=1e-4)


def test_sinkhorn_proportions_given_as_a_tensor_are_checked():
    geometry = Geometry.squared_euclidean(tf.zeros((4, 2)), tf.eye(2), 0.1)
    with pytest.raises(ValueError, match="finite and > 0"):
        Problem(geometry, tf.constant([1.0, 0.0]))
    with pytest.raises(ValueError, match="finite and > 0"):
        Problem(geometry, tf.constant([np.nan, 1.0]))
    assert Problem(geometry, tf.constant([0.25, 0.75])).b is not None


def test_sparse_zero_shape_is_refused():
    with pytest.raises(ValueError, match="n ≥ 1 rows and d ≥ 1 columns"):
        as_float32_csr(np.zeros(0), np.zeros(0, np.int32), np.zeros(4, np.int32), (3, 0), "s.npz")
    assert scipy.sparse.issparse(as_float32_csr(np.ones(1), np.array([0]), np.array([0, 1]), (1, 1), "s.npz"))


def test_integers_too_large_for_a_float_are_refused_by_name():
    """``10**400`` is an int that math.isfinite cannot take (OverflowError): refused as the argument's value."""
    from ddc_tf.checks import is_whole_number, loss_weights, non_negative_number, positive_number

    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        positive_number(10**400, "lr")
    with pytest.raises(ValueError, match="w must be a finite number ≥ 0"):
        non_negative_number(10**400, "w")
    with pytest.raises(ValueError, match="three finite non-negative numbers"):
        loss_weights((1, 10**400, 1))
    assert not is_whole_number(10**400) and is_whole_number(10**6)
