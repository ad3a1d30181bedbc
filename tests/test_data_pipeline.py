"""to_dataset / load: batching, per-epoch reshuffling, determinism, sparse densification."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from ddc_tf.data import ArrayData, load, load_arrays, to_dataset


def _data(n=23, d=3, labels=True):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64) % 4 if labels else None
    return ArrayData(x=x, y=y, name="toy", kind="vector", raw_dtype="float32", scale=1.0)


def _epoch_rows(ds):
    """Row ids of one pass (column 0 / d of the toy data)."""
    return np.concatenate([(x.numpy()[:, 0] // 3).astype(int) for x, _ in ds])


def test_one_epoch_covers_every_row_once_with_matching_labels():
    data = _data()
    ds = to_dataset(data, batch_size=5)
    sizes = [x.shape[0] for x, _ in ds]
    assert sizes == [5, 5, 5, 5, 3]
    for x, y in ds:
        assert x.dtype == tf.float32 and y.dtype == tf.int64
        np.testing.assert_array_equal(y.numpy(), (x.numpy()[:, 0] // 3).astype(int) % 4)
    assert sorted(_epoch_rows(ds)) == list(range(23))


def test_reshuffled_each_epoch_and_deterministic_given_seed():
    data = _data()
    ds = to_dataset(data, batch_size=5, seed=3)
    first, second = _epoch_rows(ds), _epoch_rows(ds)
    assert not np.array_equal(first, second)  # new order every epoch
    assert sorted(first) == sorted(second)
    again = to_dataset(data, batch_size=5, seed=3)
    np.testing.assert_array_equal(_epoch_rows(again), first)  # same seed, same run
    assert not np.array_equal(_epoch_rows(to_dataset(data, batch_size=5, seed=4)), first)
    np.testing.assert_array_equal(_epoch_rows(to_dataset(data, batch_size=5, shuffle=False)), np.arange(23))


def test_drop_remainder_gives_static_shapes():
    ds = to_dataset(_data(), batch_size=5, drop_remainder=True)
    assert ds.element_spec[0].shape == (5, 3) and ds.element_spec[1].shape == (5,)
    assert len(list(ds)) == 4
    with pytest.raises(ValueError, match="toy: batch_size=50 with drop_remainder"):
        to_dataset(_data(), batch_size=50, drop_remainder=True)
    with pytest.raises(ValueError, match="batch_size"):
        to_dataset(_data(), batch_size=0)


def test_without_labels_and_repeat():
    ds = to_dataset(_data(), batch_size=5, with_labels=False)
    assert isinstance(ds.element_spec, tf.TensorSpec)
    unlabeled = to_dataset(_data(labels=False), batch_size=5)
    assert isinstance(unlabeled.element_spec, tf.TensorSpec)
    rep = to_dataset(_data(), batch_size=10, repeat=True, with_labels=False)
    batches = list(rep.take(7))  # 70 rows > 23: crosses epochs
    assert len(batches) == 7 and all(b.shape[0] == 10 for b in batches)


def test_sparse_batches_are_dense_and_exact():
    m = scipy.sparse.random(37, 11, density=0.3, format="csr", dtype=np.float32, random_state=1)
    keep_rows = np.ones(37, np.float32)
    keep_rows[3] = 0  # an all-zero row, as real data has
    m = scipy.sparse.csr_matrix(scipy.sparse.diags(keep_rows) @ m)
    m.eliminate_zeros()
    y = np.arange(37, dtype=np.int64) % 2
    data = ArrayData(x=m, y=y, name="sp", kind="vector", raw_dtype="float32", scale=1.0)
    dense = m.toarray()
    ds = to_dataset(data, batch_size=8, seed=0)
    seen = 0
    for x, yb in ds:
        assert x.dtype == tf.float32 and x.shape[1] == 11
        # find each dense row back in the matrix through its label-preserving index
        for row, label in zip(x.numpy(), yb.numpy()):
            matches = np.flatnonzero((dense == row).all(axis=1) & (y == label))
            assert matches.size >= 1
        seen += x.shape[0]
    assert seen == 37
    ordered = np.concatenate([x.numpy() for x, _ in to_dataset(data, batch_size=8, shuffle=False)])
    np.testing.assert_array_equal(ordered, dense)
    fixed = to_dataset(data, batch_size=8, drop_remainder=True)
    assert fixed.element_spec[0].shape == (8, 11)


def test_images_keep_their_shape():
    x = np.random.default_rng(0).random((9, 4, 4, 1), dtype=np.float32)
    data = ArrayData(x=x, y=None, name="im", kind="image", raw_dtype="uint8", scale=1 / 255)
    batch = next(iter(to_dataset(data, batch_size=4, shuffle=False)))
    np.testing.assert_array_equal(batch.numpy(), x[:4])


def test_load_returns_pipeline_and_arrays():
    ds, data = load("circles", n=40, batch_size=16, seed=2)
    assert data.n == 40 and ds.element_spec[0].shape.as_list() == [None, 2]
    _, same = load("circles", n=40, seed=2)
    np.testing.assert_array_equal(same.x, data.x)
    assert not np.array_equal(load_arrays("circles", n=40, seed=5).x, data.x)


def test_fit_consumes_the_pipeline():
    keras = tf.keras
    ds, data = load("digits", batch_size=200)
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)  # the pipeline shuffles
    assert np.isfinite(history.history["loss"][0])


def test_pipelines_run_without_the_autotuner_and_batches_are_the_same_with_it(monkeypatch):
    """tf.data's autotuner is off in every `to_dataset` pipeline, and in a zip of them as a
    group of runs reads them (its thread made dropping a finished run's iterator stall for
    up to a minute: ``TUNE_PIPELINES``); turning it on changes no batch."""
    from ddc_tf.data import pipeline

    data = _data()
    neighbors = (np.arange(23)[:, None] + np.array([1, 2])) % 23
    variants = {
        "shuffled": dict(batch_size=5, seed=3, repeat=True),
        "ordered": dict(batch_size=5, shuffle=False, order=np.arange(23)[::-1]),
        "neighbour pairs": dict(batch_size=5, seed=3, repeat=True, neighbors=neighbors),
    }

    def first_batches(ds):
        return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in ds.take(6)]

    untuned = {name: to_dataset(data, **kwargs) for name, kwargs in variants.items()}
    for name, ds in untuned.items():
        assert ds.options().autotune.enabled is False, name
    assert tf.data.Dataset.zip(dict(untuned)).options().autotune.enabled is False
    monkeypatch.setattr(pipeline, "TUNE_PIPELINES", True)
    for name, kwargs in variants.items():
        tuned = to_dataset(data, **kwargs)
        assert tuned.options().autotune.enabled is not False, name
        for a, b in zip(first_batches(untuned[name]), first_batches(tuned)):
            tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def test_a_fixed_order_shorter_than_a_batch_is_refused_with_drop_remainder():
    """The rows a stream yields are the order's, not the data's: 5 rows make no batch of 10."""
    from ddc_tf.data import ArrayData, to_dataset

    data = ArrayData(x=np.zeros((50, 2), np.float32), y=None, name="d", kind="vector", raw_dtype="float32", scale=1.0)
    with pytest.raises(ValueError, match="batch_size=10 with drop_remainder=True but only 5 rows in order"):
        to_dataset(data, batch_size=10, shuffle=False, drop_remainder=True, order=np.arange(5))
    assert len(list(to_dataset(data, batch_size=10, shuffle=False, drop_remainder=True, order=np.arange(25)))) == 2
