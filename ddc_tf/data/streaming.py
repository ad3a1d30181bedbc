"""Streaming from disk: TFRecord shards for data sets that do not fit in memory.

Two steps:
1. `write_shards(source, out_dir)` converts a data set once into `shard-XXXXX-of-YYYYY.tfrecord`
   files plus `meta.json`. The source is an IDX folder/file (read chunk by chunk, so memory
   stays O(chunk) however large the files) or an in-memory `ArrayData`. Images keep their
   raw uint8 bytes (4x smaller than float32); sparse rows keep only their non-zeros.
2. `stream_dataset(out_dir)` reads them back as a `tf.data` pipeline: shard order shuffled
   every epoch, shards interleaved, examples shuffled in a bounded buffer (an approximate
   shuffle: memory O(shuffle_buffer)), batched, then parsed, decoded and scaled per batch
   with vectorised ops. Deterministic given `seed`.

Example:
    >>> write_shards("/data/mnist", "/tmp/mnist_shards", examples_per_shard=10_000)
    >>> ds = stream_dataset("/tmp/mnist_shards", batch_size=100)
    >>> model.fit(ds, epochs=10)
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from ddc_tf.data.arrays import ArrayData, check_labels
from ddc_tf.data.idx import (
    LABELS_MAGIC,
    check_declared_size,
    find_idx_splits,
    images_file_splits,
    iter_idx_chunks,
    read_idx,
    read_idx_header,
)

__all__ = ["META_FILE", "read_meta", "stream_dataset", "write_shards"]

META_FILE = "meta.json"
_FORMAT = "ddc_tf.shards/1"


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values: np.ndarray) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values.tolist()))


def _floats(values: np.ndarray) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))


_Chunks = Iterator[tuple[np.ndarray, "np.ndarray | None"]]


def _idx_chunks(path: Path, chunk_size: int) -> tuple[dict[str, Any], _Chunks]:
    """Metadata and a chunk iterator `(uint8 images (b, h, w[, c]), labels (b,) | None)`."""
    if path.is_file():  # its labels paired as load_idx_folder pairs them (train-labels-idx1-ubyte, .gz or not)
        files = images_file_splits(path)
    else:
        files = find_idx_splits(path)
        if not files:
            raise ValueError(f"{path}: no IDX files to convert")
    headers = {s: read_idx_header(f["images"]) for s, f in files.items()}
    for split, f in files.items():  # before any shard is written: sizes the files can hold
        check_declared_size(headers[split], Path(f["images"]))
    shapes = {h.shape[1:] for h in headers.values()}
    if len(shapes) != 1:
        raise ValueError(f"{path}: IDX splits have different image shapes {sorted(shapes)}")
    (shape,) = shapes
    if len(shape) not in (2, 3):
        raise ValueError(f"{path}: IDX images have rank {len(shape) + 1}, expected 3 or 4")
    dtypes = {h.dtype for h in headers.values()}
    if dtypes != {np.dtype(np.uint8)}:
        raise ValueError(f"{path}: streaming supports uint8 IDX images, found {sorted(map(str, dtypes))}")
    has_labels = {"labels" in f for f in files.values()}
    if has_labels == {True, False}:
        raise ValueError(f"{path}: some IDX splits have labels and others do not")
    labels = {}
    if True in has_labels:
        for split, f in files.items():
            y = read_idx(f["labels"], expect_magic=LABELS_MAGIC)  # small: 1 byte per example
            labels[split] = check_labels(y, headers[split].shape[0], f["labels"])
        _warn_if_sorted(path, np.concatenate(list(labels.values())))

    def chunks() -> _Chunks:
        for split, f in files.items():
            start = 0
            for x in iter_idx_chunks(f["images"], chunk_size):
                y = labels[split][start : start + len(x)] if labels else None
                start += len(x)
                yield x, y

    meta = {
        "kind": "image",
        "input_shape": list(shape) + ([1] if len(shape) == 2 else []),
        "stored_dtype": "uint8",
        "raw_dtype": "uint8",
        "scale": 1 / 255,
        "n": int(sum(h.shape[0] for h in headers.values())),
        "has_labels": bool(labels),
        "sparse": False,
    }
    return meta, chunks()


def _warn_if_sorted(path: Path, y: np.ndarray) -> None:
    """A warning when IDX files stored in their own order hold their labels in runs (sorted by class):
    the stream's shuffle (shards, then a buffer) would then give batches of few classes."""
    same = float(np.mean(y[1:] == y[:-1])) if y.size > 1 else 0.0
    if same > 0.5:  # random order: about 1 / classes
        warnings.warn(f"{path}: {same:.0%} of neighbouring images share a label (sorted by class?); shards keep the "
                      "IDX order, which the stream's shuffle does not mix: write_shards(load_idx_folder(path)) writes "
                      "a seeded random order", stacklevel=4)


def _array_chunks(data: ArrayData, chunk_size: int, order_seed: int | None) -> tuple[dict[str, Any], _Chunks]:
    """Metadata and chunks of an in-memory `ArrayData` (uint8 images stored as raw bytes), its
    rows in a fixed random order seeded by `order_seed`: stored data is often sorted by class,
    and the stream's shuffle (shards, then a buffer) would leave batches of few classes."""
    as_bytes = data.raw_dtype == "uint8" and not data.is_sparse
    if as_bytes:
        _check_bytes(data, chunk_size)
    order = np.arange(data.n) if order_seed is None else np.random.default_rng(order_seed).permutation(data.n)
    meta = {
        "kind": data.kind,
        "input_shape": list(data.input_shape),
        "stored_dtype": "uint8" if as_bytes else "float32",
        "raw_dtype": data.raw_dtype,
        "scale": float(data.scale),
        "n": data.n,
        "has_labels": data.y is not None,
        "sparse": data.is_sparse,
        "class_names": list(data.class_names) if data.class_names else None,
        "image_shape": list(data.image_shape) if data.image_shape else None,
        "order_seed": None if order_seed is None else int(order_seed),
    }

    def chunks() -> _Chunks:
        for start in range(0, data.n, chunk_size):
            rows = order[start : start + chunk_size]
            x = data.x[rows]
            if as_bytes:
                x = np.rint(x / data.scale).astype(np.uint8)
            yield x, (data.y[rows] if data.y is not None else None)

    return meta, chunks()


def _check_bytes(data: ArrayData, chunk_size: int) -> None:
    """A ValueError unless every ``x / scale`` of uint8-sourced ``data`` is a whole number in
    0..255 (within 1e-3), as stored bytes must be: values changed since loading (centred,
    rescaled) would otherwise wrap or round silently."""
    for start in range(0, data.n, chunk_size):
        raw = data.x[start : start + chunk_size].astype(np.float64) / data.scale
        rounded = np.rint(raw)
        off = np.abs(raw - rounded)
        bad = np.flatnonzero((off > 1e-3) | (rounded < 0) | (rounded > 255))
        if bad.size:
            row = start + int(bad[0]) // raw[0].size
            raise ValueError(
                f"{data.name}: raw_dtype uint8 (scale {data.scale:g}) but x / scale is "
                f"{raw.flat[bad[0]]:g} in row {row}, not a whole number in 0..255: x changed since it "
                "was loaded; store it as float32 (dataclasses.replace(data, raw_dtype='float32', scale=1.0))"
            )


def _examples(x, y: np.ndarray | None, sparse: bool) -> Iterator[bytes]:
    """Serialised `tf.train.Example`s of one chunk."""
    for i in range(x.shape[0]):
        if sparse:
            row = x[i]
            feature = {"indices": _ints(row.indices.astype(np.int64)), "values": _floats(row.data)}
        else:
            feature = {"x": _bytes(np.ascontiguousarray(x[i]).tobytes())}
        if y is not None:
            feature["y"] = _ints(y[i : i + 1])
        yield tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_shards(
    source: ArrayData | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    examples_per_shard: int = 10_000,
    chunk_size: int = 10_000,
    name: str | None = None,
    class_names: tuple[str, ...] | None = None,
    overwrite: bool = False,
    order_seed: int | None = 0,
) -> dict[str, Any]:
    """Convert a data set to TFRecord shards plus `meta.json` in `out_dir`.

    Args:
        source: an `ArrayData`, or an IDX folder / images file (streamed in chunks).
        out_dir: output folder (created).
        examples_per_shard: examples per `.tfrecord` file; more shards shuffle better.
        chunk_size: examples read from an IDX file at a time (memory bound).
        name, class_names: stored in the metadata (default: from the source).
        overwrite: replace existing shards in `out_dir`.
        order_seed: an `ArrayData`'s rows are written in the random order this seeds (kept as
            `order_seed` in `meta.json`), so that data stored sorted by class still streams
            batches of every class: the stream shuffles shards and then a buffer, which does not
            mix a sorted file. IDX files are written in their own order (MNIST's and
            Fashion-MNIST's are stored shuffled). An unshuffled stream reads the written order; None
            keeps the stored order (for rows that must line up with the array or its `row_names`).

    Returns:
        The metadata written (`n`, `input_shape`, `shards`, ...).
    """
    if examples_per_shard < 1 or chunk_size < 1:
        raise ValueError("examples_per_shard and chunk_size must be >= 1")
    out = Path(out_dir)
    if out.exists() and any(out.glob("shard-*.tfrecord")) and not overwrite:
        raise FileExistsError(f"{out}: already holds shards; pass overwrite=True to replace them")
    if isinstance(source, ArrayData):
        meta, chunks = _array_chunks(source, chunk_size, order_seed)
        meta["name"] = name or source.name
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such IDX folder or file")
        meta, chunks = _idx_chunks(path, chunk_size)
        meta["name"] = name or str(path)
        meta["image_shape"] = meta["input_shape"]
    if meta["n"] < 1 or any(int(d) < 1 for d in meta["input_shape"]):
        raise ValueError(
            f"{meta['name']}: {meta['n']} examples of shape {tuple(meta['input_shape'])}: nothing to "
            "write (a data set needs at least one example and no dimension of size 0)"
        )
    if class_names is not None:
        meta["class_names"] = list(class_names)
    meta.setdefault("class_names", None)
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).unlink(missing_ok=True)  # written last: a folder without it is not a finished conversion
    for old in out.glob("shard-*.tfrecord"):
        old.unlink()
    n_shards = max(1, -(-meta["n"] // examples_per_shard))
    names = [f"shard-{i:05d}-of-{n_shards:05d}.tfrecord" for i in range(n_shards)]
    shard, in_shard, writer = 0, 0, tf.io.TFRecordWriter(str(out / names[0]))
    try:
        for x, y in chunks:
            for record in _examples(x, y, meta["sparse"]):
                if in_shard == examples_per_shard:
                    writer.close()
                    shard, in_shard = shard + 1, 0
                    writer = tf.io.TFRecordWriter(str(out / names[shard]))
                writer.write(record)
                in_shard += 1
    finally:
        writer.close()
    meta.update(format=_FORMAT, shards=names, examples_per_shard=examples_per_shard)
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return meta


def read_meta(shard_dir: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a shard folder, checked against the files present."""
    folder = Path(shard_dir)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder}: no {META_FILE}; create the shards with write_shards")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected {_FORMAT!r}")
    missing = [s for s in meta["shards"] if not (folder / s).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: shard file(s) missing: {missing[:3]}")
    return meta


def stream_dataset(
    shard_dir: str | os.PathLike,
    *,
    batch_size: int = 100,
    shuffle: bool = True,
    seed: int = 0,
    shuffle_buffer: int = 10_000,
    drop_remainder: bool = False,
    with_labels: bool = True,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Stream TFRecord shards written by `write_shards` as batches, like `to_dataset`.

    Args:
        shard_dir: the folder written by `write_shards`.
        batch_size, seed, drop_remainder, with_labels, repeat: as `to_dataset`.
        shuffle: shuffle shard order and examples (a buffer of `shuffle_buffer`
            examples), reshuffled every epoch.
        shuffle_buffer: examples held for shuffling (memory bound).

    Returns:
        Dataset of float32 `x` `(b, *input_shape)` or `(x, y)` with int64 `y` `(b,)`.
    """
    folder = Path(shard_dir)
    meta = read_meta(folder)
    if drop_remainder and not repeat and meta["n"] < batch_size:
        raise ValueError(f"{folder}: {meta['n']} examples make no whole batch of {batch_size} (drop_remainder=True "
                         "would stream nothing); use a smaller batch_size")
    files = [str(folder / s) for s in meta["shards"]]
    input_shape = tuple(meta["input_shape"])
    labels = meta["has_labels"] and with_labels
    spec: dict[str, Any] = {}
    if meta["sparse"]:
        spec["indices"] = tf.io.VarLenFeature(tf.int64)
        spec["values"] = tf.io.VarLenFeature(tf.float32)
    else:
        spec["x"] = tf.io.FixedLenFeature([], tf.string)
    if labels:
        spec["y"] = tf.io.FixedLenFeature([], tf.int64)
    stored = tf.uint8 if meta["stored_dtype"] == "uint8" else tf.float32
    scale = float(meta["scale"]) if meta["stored_dtype"] == "uint8" else 1.0
    static_batch = batch_size if drop_remainder else None

    def parse(records: tf.Tensor):
        parsed = tf.io.parse_example(records, spec)
        if meta["sparse"]:
            cols, vals = parsed["indices"], parsed["values"]
            coords = tf.stack([cols.indices[:, 0], cols.values], axis=1)
            shape = tf.stack([tf.shape(records, out_type=tf.int64)[0], tf.constant(input_shape[0], tf.int64)])
            x = tf.sparse.to_dense(tf.SparseTensor(coords, vals.values, shape), validate_indices=False)
        else:
            x = tf.io.decode_raw(parsed["x"], stored)
            x = tf.reshape(x, (-1, *input_shape))
            x = tf.cast(x, tf.float32) * scale if stored == tf.uint8 else x
        x = tf.ensure_shape(x, (static_batch, *input_shape))
        return (x, parsed["y"]) if labels else x

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, len(files)) if shuffle else 1,  # unshuffled: file order kept
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
