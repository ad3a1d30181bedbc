"""IDX parsing and IDX folders: round trips, merging and every kind of broken file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ddc_tf.data import load_arrays
from ddc_tf.data.idx import find_idx_splits, iter_idx_chunks, load_idx_folder, read_idx, read_idx_header

try:
    from tests.data_fixtures import idx_bytes, write_idx, write_mnist_folder
except ImportError:  # tests/ is not a package
    from data_fixtures import idx_bytes, write_idx, write_mnist_folder


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, gz):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "a-images-idx3-ubyte", x, gz=gz)
    np.testing.assert_array_equal(read_idx(path, expect_magic=2051), x)
    header = read_idx_header(path)
    assert header.magic == 2051 and header.shape == (2, 3, 4)


def test_multibyte_types_are_big_endian(tmp_path):
    x = np.array([[1.5, -2.0], [3.0, 1e6]], dtype=">f4")
    got = read_idx(write_idx(tmp_path / "f.idx", x))
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, x)
    ints = np.array([1, 70000, -5], dtype=">i4")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i.idx", ints)), ints)


def test_folder_merges_train_then_test(tmp_path):
    x, y = write_mnist_folder(tmp_path, n_train=12, n_test=5, shape=(6, 7))
    data = load_arrays(tmp_path)
    assert data.kind == "image" and data.x.shape == (17, 6, 7, 1) and data.raw_dtype == "uint8"
    np.testing.assert_allclose(data.x[..., 0], x / 255, rtol=1e-6)
    np.testing.assert_array_equal(data.y, y)
    assert data.image_shape == (6, 7, 1) and data.scale == pytest.approx(1 / 255)
    train_only = load_idx_folder(tmp_path, splits=["train"])
    assert train_only.n == 12
    # one images file loads that split (and its labels)
    single = load_arrays(tmp_path / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(single.y, y[12:])


def test_raw_and_dotted_names(tmp_path):
    x = np.zeros((3, 2, 2), np.uint8)
    write_idx(tmp_path / "train-images.idx3-ubyte", x)
    write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1, 2], np.uint8))
    assert list(find_idx_splits(tmp_path)) == ["train"]
    assert load_arrays(tmp_path).y.tolist() == [0, 1, 2]


def test_folder_without_labels_is_unlabelled(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    assert load_arrays(tmp_path).y is None


def test_truncated_files(tmp_path):
    x = np.zeros((4, 5, 5), np.uint8)
    raw = write_idx(tmp_path / "raw-images-idx3-ubyte", x, cut=3)
    with pytest.raises(ValueError, match=r"raw-images-idx3-ubyte: IDX file truncated.*shape \(4, 5, 5\)"):
        read_idx(raw)
    # a gzip stream cut short
    gz = tmp_path / "gz-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(idx_bytes(x))[:-20])
    with pytest.raises(ValueError, match="gz-images-idx3-ubyte.gz: corrupt or truncated"):
        read_idx(gz)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tiny)
    extra = tmp_path / "extra"
    extra.write_bytes(idx_bytes(x) + b"\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(extra)


def test_wrong_magic(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: wrong IDX magic number"):
        read_idx(bad)
    unknown_type = tmp_path / "t"
    unknown_type.write_bytes(b"\x00\x00\x07\x01" + bytes(4))
    with pytest.raises(ValueError, match="wrong IDX magic"):
        read_idx(unknown_type)
    many = tmp_path / "many"  # 20 dimensions: named, not reported as a truncated header
    many.write_bytes(b"\x00\x00\x08\x14" + bytes(80))
    with pytest.raises(ValueError, match="declares 20 dimensions"):
        read_idx(many)


def test_labels_file_with_images_magic_is_refused(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((3, 1, 1), np.uint8))  # rank 3
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: wrong IDX magic number 2051.*expected 2049"):
        load_arrays(tmp_path)


def test_images_of_wrong_rank(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="rank 2"):
        load_arrays(tmp_path)


def test_label_count_mismatch(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 2, 2), np.uint8), gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), gz=True)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: 4 labels for 3 images"):
        load_arrays(tmp_path)


def test_inconsistent_folders(tmp_path):
    write_mnist_folder(tmp_path, n_train=3, n_test=2)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"\['t10k'\] have images but no labels"):
        load_arrays(tmp_path)
    other = tmp_path / "o"
    other.mkdir()
    write_idx(other / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    write_idx(other / "x-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="labels without images"):
        load_arrays(other)
    with pytest.raises(ValueError, match="no IDX split"):
        load_idx_folder(tmp_path, splits=["valid"])


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_arrays(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no IDX files"):
        load_idx_folder(empty)


def test_iter_chunks_streams_and_detects_truncation(tmp_path):
    x = np.arange(7 * 3 * 2, dtype=np.uint8).reshape(7, 3, 2)
    path = write_idx(tmp_path / "a-images-idx3-ubyte.gz", x, gz=True)
    chunks = list(iter_idx_chunks(path, chunk_size=3))
    assert [c.shape[0] for c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), x)
    cut = write_idx(tmp_path / "b-images-idx3-ubyte", x, cut=1)
    with pytest.raises(ValueError, match="truncated"):
        list(iter_idx_chunks(cut, chunk_size=3))
