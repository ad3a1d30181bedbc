"""`to_dataset`: an in-memory `ArrayData` as a shuffled, batched, prefetched `tf.data` pipeline.

Design: the arrays are held once as tensors (this is the in-memory cache); the pipeline
shuffles and batches *row indices* (`Dataset.range(n)`), then gathers whole batches with
one vectorised op. That is much faster than shuffling and batching element by element,
and it reshuffles every epoch for free (`reshuffle_each_iteration=True`). A sparse CSR
matrix is held as its three arrays (memory O(nnz)); each batch's rows are gathered into a
`tf.SparseTensor` and densified inside the graph, so batches are always dense float32.

For data that does not fit in memory, see `ddc_tf.data.streaming`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from ddc_tf.checks import positive_int
from ddc_tf.data.arrays import ArrayData, require_array_data
from ddc_tf.data.neighbors import check_neighbors

__all__ = ["INPUTS_KEY", "NEIGHBORS_KEY", "TUNE_PIPELINES", "to_dataset"]

#: Keys of a batch that pairs every point with one of its neighbours (``neighbors=``).
INPUTS_KEY, NEIGHBORS_KEY = "inputs", "neighbors"

#: Whether `to_dataset`'s pipelines run tf.data's autotuner (``tf.data.Options().autotune``).
#: Off: an in-memory pipeline gathers whole batches with one op and gains nothing from it,
#: while the autotuner's thread made finished runs expensive to drop. When the iterator of a
#: finished `fit` was garbage-collected, its destructor waited for that thread, which sleeps
#: between optimisations for periods that double up to a minute: `ddc-tf fit --data digits`
#: stalled 37 s after one group of runs, `--data 20news` 32 s and 60 s (TensorFlow 2.21; the
#: stack: ``RootDataset::Iterator::~Iterator`` joining a tf.data thread). Without it the same
#: commands take 81 s instead of 103–107 s and 162 s instead of 205–225 s, every run identical
#: (README "Speed"; ``benchmarks/pipeline_teardown.py`` sets this to True for the comparison).
TUNE_PIPELINES = False


def _dense_fetch(x: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    """A function mapping `(b,)` int64 row indices to the float32 rows `(b, *x.shape[1:])`."""
    x_t = tf.constant(x, dtype=tf.float32)

    def fetch(idx: tf.Tensor) -> tf.Tensor:
        return tf.gather(x_t, idx)

    return fetch


def _sparse_fetch(x, batch_size: int | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """Row indices `(b,)` -> dense float32 `(b, d)`, gathering CSR rows as a SparseTensor.

    Work and memory per batch are O(nnz of the batch + b*d); the whole matrix stays CSR.
    """
    n_cols = int(x.shape[1])
    values = tf.constant(x.data, dtype=tf.float32)
    columns = tf.constant(x.indices.astype(np.int64))
    indptr = tf.constant(x.indptr.astype(np.int64))

    def fetch(idx: tf.Tensor) -> tf.Tensor:
        starts = tf.gather(indptr, idx)
        limits = tf.gather(indptr, idx + 1)
        positions = tf.ragged.range(starts, limits)  # (b, None): flat positions of each row
        flat = positions.flat_values
        coords = tf.stack([positions.value_rowids(), tf.gather(columns, flat)], axis=1)
        shape = tf.stack([tf.shape(idx, out_type=tf.int64)[0], tf.constant(n_cols, tf.int64)])
        sparse = tf.SparseTensor(coords, tf.gather(values, flat), shape)
        dense = tf.sparse.to_dense(sparse, validate_indices=False)
        return tf.ensure_shape(dense, (batch_size, n_cols))

    return fetch


def to_dataset(
    data: ArrayData,
    *,
    batch_size: int = 100,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
    with_labels: bool = True,
    repeat: bool = False,
    order: np.ndarray | None = None,
    start_batch: int = 0,
    neighbors: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Build the `tf.data` pipeline of an in-memory data set.

    Args:
        data: the `ArrayData` (dense or sparse CSR `x`).
        batch_size: examples per batch.
        shuffle: shuffle the order, reshuffled at every epoch (each new iteration),
            deterministic given `seed`.
        seed: the shuffle seed.
        drop_remainder: drop the last partial batch, so every batch has exactly
            `batch_size` rows (static shapes for XLA).
        with_labels: yield `(x, y)` when the data has labels; otherwise `x` only.
        repeat: repeat forever (each pass reshuffled); batches then run across epochs.
        order: a fixed sequence of row indices `(n_rows,)` to yield instead of
            `0 … n-1` (rows may repeat); needs `shuffle=False`. Used to score a model on
            the same random batches whatever order the data is stored in
            (`ddc_tf.experiments.training.evaluation_order`).
        start_batch: skip this many batches first (before any row is fetched): the stream
            then continues where a run that trained on that many batches stopped.
        neighbors: `(n, k)` row indices of each point's nearest neighbours
            (`ddc_tf.data.neighbors.nearest_neighbors`). Each batch then pairs every point
            with one of its k neighbours, drawn at random (seeded by `seed` and the batch's
            position in the stream, so a resumed stream draws the same ones), and is the
            dict `{"inputs": x, "neighbors": x_neighbour}` (no labels) that
            `DDC.fit` trains the neighbour-consistency term on.

    Returns:
        A dataset of float32 `x` batches `(b, *data.input_shape)` (sparse inputs are
        densified per batch), or of `(x, y)` with int64 `y` `(b,)`, or of the neighbour
        dicts above; prefetched with `AUTOTUNE` (tf.data's autotuner off unless
        `TUNE_PIPELINES`). Pass it to `model.fit`.

    Example:
        >>> from ddc_tf.data import load_arrays, to_dataset
        >>> ds = to_dataset(load_arrays("digits"), batch_size=100)
        >>> x, y = next(iter(ds))  # (100, 64) float32, (100,) int64
    """
    require_array_data(data)
    batch_size = positive_int(batch_size, "batch_size")
    n = data.n
    rows = n if order is None else np.asarray(order).size  # what the stream yields (order is checked below)
    if drop_remainder and not repeat and batch_size > rows:
        raise ValueError(
            f"{data.name}: batch_size={batch_size} with drop_remainder=True but only {rows} "
            f"{'examples' if order is None else 'rows in order'}: the dataset would be empty"
        )
    static_batch = batch_size if drop_remainder else None
    fetch_x = _sparse_fetch(data.x, static_batch) if data.is_sparse else _dense_fetch(data.x)
    labels = data.y is not None and with_labels and neighbors is None
    if neighbors is not None:
        neighbors_t = tf.constant(check_neighbors(neighbors, n))
        n_neighbors = int(neighbors_t.shape[1])
        stream_seed = tf.constant(int(seed), tf.int64)

        def fetch(position: tf.Tensor, idx: tf.Tensor) -> dict[str, tf.Tensor]:
            pick = tf.random.stateless_uniform(
                tf.shape(idx), seed=tf.stack([stream_seed, position]), minval=0, maxval=n_neighbors,
                dtype=tf.int64,
            )
            partners = tf.gather(tf.gather(neighbors_t, idx), pick, batch_dims=1)
            return {INPUTS_KEY: fetch_x(idx), NEIGHBORS_KEY: fetch_x(partners)}

    elif labels:
        y_t = tf.constant(data.y, dtype=tf.int64)

        def fetch(idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return fetch_x(idx), tf.gather(y_t, idx)

    else:
        fetch = fetch_x

    if order is None:
        ds = tf.data.Dataset.range(n)
    else:
        if shuffle:
            raise ValueError("to_dataset: pass either shuffle=True or a fixed order, not both")
        order = np.asarray(order)
        if order.ndim != 1 or order.size == 0 or not np.issubdtype(order.dtype, np.integer):
            raise ValueError(f"order must be a non-empty 1-D array of row indices, got shape {order.shape} "
                             f"and dtype {order.dtype}")
        if order.min() < 0 or order.max() >= n:
            raise ValueError(f"order holds row indices outside [0, {n}) of {data.name}")
        ds = tf.data.Dataset.from_tensor_slices(order.astype(np.int64))
    if shuffle:
        ds = ds.shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if neighbors is not None:
        ds = ds.enumerate()  # (position in the stream, row indices): seeds the neighbour draw
    if start_batch:
        if isinstance(start_batch, bool) or not isinstance(start_batch, (int, np.integer)) or start_batch < 0:
            raise ValueError(f"start_batch must be a non-negative integer, got {start_batch!r}")
        ds = ds.skip(int(start_batch))
    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if not TUNE_PIPELINES:
        options = tf.data.Options()
        options.autotune.enabled = False
        ds = ds.with_options(options)
    return ds
