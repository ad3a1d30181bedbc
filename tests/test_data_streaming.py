"""TFRecord shards: IDX folders converted chunk by chunk, streamed back like to_dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from ddc_tf.data import ArrayData, load_arrays
from ddc_tf.data.streaming import read_meta, stream_dataset, write_shards

try:
    from tests.data_fixtures import write_idx, write_mnist_folder
except ImportError:
    from data_fixtures import write_idx, write_mnist_folder


@pytest.fixture
def idx_shards(tmp_path):
    x, y = write_mnist_folder(tmp_path / "idx", n_train=37, n_test=13, shape=(6, 5))
    meta = write_shards(tmp_path / "idx", tmp_path / "shards", examples_per_shard=8, chunk_size=7)
    return tmp_path, x, y, meta


def _rows(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_idx_to_shards_round_trip(idx_shards):
    tmp_path, x, y, meta = idx_shards
    assert meta["n"] == 50 and len(meta["shards"]) == 7 and meta["input_shape"] == [6, 5, 1]
    xs, ys = _rows(stream_dataset(tmp_path / "shards", batch_size=9, shuffle=False))
    np.testing.assert_allclose(xs[..., 0], x / 255, rtol=1e-6)
    np.testing.assert_array_equal(ys, y)
    in_memory = load_arrays(tmp_path / "idx")
    np.testing.assert_array_equal(xs, in_memory.x)


def test_stream_shuffles_every_epoch_deterministically(idx_shards):
    tmp_path, x, y, _ = idx_shards
    ds = stream_dataset(tmp_path / "shards", batch_size=10, seed=1, shuffle_buffer=16)
    (x1, y1), (x2, y2) = _rows(ds), _rows(ds)
    assert not np.array_equal(y1, y2) or not np.array_equal(x1, x2)
    # every example once per epoch, labels still attached to their image
    key = lambda a: np.sort(a.reshape(len(a), -1).sum(1))  # noqa: E731
    np.testing.assert_allclose(key(x1), key(x / 255), rtol=1e-5)
    assert sorted(y1) == sorted(y)
    again, _ = _rows(stream_dataset(tmp_path / "shards", batch_size=10, seed=1, shuffle_buffer=16))
    np.testing.assert_array_equal(again, x1)


def test_stream_options(idx_shards):
    tmp_path, *_ = idx_shards
    fixed = stream_dataset(tmp_path / "shards", batch_size=16, drop_remainder=True)
    assert fixed.element_spec[0].shape == (16, 6, 5, 1)
    assert len(list(fixed)) == 3
    unlabeled = stream_dataset(tmp_path / "shards", with_labels=False)
    assert isinstance(unlabeled.element_spec, tf.TensorSpec)
    assert len(list(stream_dataset(tmp_path / "shards", batch_size=20, repeat=True).take(5))) == 5


def test_sparse_array_shards(tmp_path):
    m = scipy.sparse.random(30, 12, density=0.25, format="csr", dtype=np.float32, random_state=0)
    data = ArrayData(x=m, y=np.arange(30, dtype=np.int64) % 3, name="sp", kind="vector", raw_dtype="float32", scale=1.0)
    meta = write_shards(data, tmp_path / "s", examples_per_shard=7, order_seed=3)
    xs, ys = _rows(stream_dataset(tmp_path / "s", batch_size=8, shuffle=False))
    order = np.random.default_rng(meta["order_seed"]).permutation(30)  # rows written in this order
    np.testing.assert_array_equal(xs, m.toarray()[order])
    np.testing.assert_array_equal(ys, data.y[order])
    meta = write_shards(data, tmp_path / "kept", examples_per_shard=7, order_seed=None)  # the stored order
    assert meta["order_seed"] is None
    np.testing.assert_array_equal(_rows(stream_dataset(tmp_path / "kept", batch_size=8, shuffle=False))[1], data.y)


def test_class_sorted_arrays_are_written_mixed(tmp_path):
    """Data stored sorted by class (20news, image folders) streams batches of every class: the rows
    are written in a seeded random order, where stored order left the stream's shuffle (shards, then
    a buffer) to mix a sorted file."""
    y = np.repeat(np.arange(4), 50)
    data = ArrayData(x=y[:, None].astype(np.float32), y=y, name="sorted", kind="vector", raw_dtype="float32", scale=1.0)
    write_shards(data, tmp_path / "s", examples_per_shard=100)
    first = next(iter(stream_dataset(tmp_path / "s", batch_size=20, shuffle_buffer=10, seed=1)))[1].numpy()
    assert len(set(first.tolist())) == 4  # stored order: two shards of two classes each, 2 classes a batch
    _, ys = _rows(stream_dataset(tmp_path / "s", batch_size=20, shuffle=False))
    assert sorted(ys.tolist()) == y.tolist()  # every row once


def test_changed_uint8_arrays_are_refused(tmp_path):
    """An ArrayData read from uint8 whose x changed since (centred, rescaled) no longer maps onto
    bytes: refused by name, not wrapped (-0.2 stored as 205) or rounded."""
    raw = np.random.default_rng(0).integers(0, 256, (4, 3, 3, 1), dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=raw)
    data = load_arrays(tmp_path / "i.npz")
    centred = dataclasses.replace(data, x=data.x - np.float32(0.5))
    with pytest.raises(ValueError, match=r"not a whole number in 0\.\.255.*float32"):
        write_shards(centred, tmp_path / "s")
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_uint8_array_shards_store_bytes(tmp_path):
    raw = np.random.default_rng(0).integers(0, 256, (5, 3, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=raw)
    data = load_arrays(tmp_path / "i.npz")
    meta = write_shards(data, tmp_path / "s")
    assert meta["stored_dtype"] == "uint8"
    xs = np.concatenate([b.numpy() for b in stream_dataset(tmp_path / "s", shuffle=False)])
    np.testing.assert_array_equal(xs, data.x[np.random.default_rng(meta["order_seed"]).permutation(5)])


def test_errors(tmp_path, idx_shards):
    root, *_ = idx_shards
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_shards(root / "idx", root / "shards")
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        stream_dataset(tmp_path / "idx")
    with pytest.raises(ValueError, match="no whole batch of 1000"):
        stream_dataset(root / "shards", batch_size=1000, drop_remainder=True)
    repeated = stream_dataset(root / "shards", batch_size=1000, drop_remainder=True, repeat=True)  # as to_dataset
    assert next(iter(repeated))[0].shape[0] == 1000
    (root / "shards" / read_meta(root / "shards")["shards"][2]).unlink()
    with pytest.raises(FileNotFoundError, match="shard file"):
        stream_dataset(root / "shards")
    bad = tmp_path / "bad"
    bad.mkdir()
    write_idx(bad / "train-images-idx3-ubyte", np.zeros((4, 2, 2), np.uint8), cut=2)
    with pytest.raises(ValueError, match="truncated"):
        write_shards(bad, tmp_path / "out")


def test_one_idx_file_streams_with_the_labels_its_folder_pairs_with_it(tmp_path):
    """A gzipped images file beside a raw labels file: paired as load_idx_folder pairs them (the name
    was guessed by text replacement, which looked only for a .gz labels file and lost the labels)."""
    import gzip

    x, y = write_mnist_folder(tmp_path / "idx", n_train=9, n_test=3, shape=(4, 4), gz=True)
    labels = tmp_path / "idx" / "train-labels-idx1-ubyte.gz"
    (tmp_path / "idx" / "train-labels-idx1-ubyte").write_bytes(gzip.decompress(labels.read_bytes()))
    labels.unlink()
    images = tmp_path / "idx" / "train-images-idx3-ubyte.gz"  # and a `gunzip -k` copy beside it
    (tmp_path / "idx" / "train-images-idx3-ubyte").write_bytes(gzip.decompress(images.read_bytes()))
    meta = write_shards(images, tmp_path / "s")
    assert meta["has_labels"] and meta["n"] == 9
    xs, ys = _rows(stream_dataset(tmp_path / "s", shuffle=False))
    np.testing.assert_array_equal(ys, y[:9])
    odd = tmp_path / "idx" / "images.bin"
    odd.write_bytes(bytes(8))
    with pytest.raises(ValueError, match="not an IDX images file"):
        write_shards(odd, tmp_path / "s2")


def test_idx_files_sorted_by_class_are_warned_about(tmp_path):
    """IDX files keep their own order in shards: labels in runs (sorted by class) draw a warning with
    the way to a random order; MNIST-style shuffled files (the fixture's random labels) do not."""
    import warnings

    x, y = write_mnist_folder(tmp_path / "idx", n_train=40, n_test=10, shape=(4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_shards(tmp_path / "idx", tmp_path / "s")
    (tmp_path / "sorted").mkdir()
    write_idx(tmp_path / "sorted" / "train-images-idx3-ubyte", np.zeros((30, 4, 4), np.uint8))
    write_idx(tmp_path / "sorted" / "train-labels-idx1-ubyte", np.repeat(np.arange(3, dtype=np.uint8), 10))
    with pytest.warns(UserWarning, match=r"93% of neighbouring images share a label.*write_shards\(load_idx_folder"):
        write_shards(tmp_path / "sorted", tmp_path / "s2")
