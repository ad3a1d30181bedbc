"""Data for prediction, batch by batch: raw ``.npy`` inputs or sources read as training data.

:func:`open_data` streams ``.npy`` (memory-mapped), the dense ``x`` of an ``.npz`` and IDX
files ``batch_size`` rows at a time; other sources are loaded by ``ddc_tf.data`` first.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["DEFAULT_BATCH_SIZE", "DataStream", "open_data"]

#: Rows per prediction batch.
DEFAULT_BATCH_SIZE = 256


@dataclass
class DataStream:
    """Batches of a data source.

    Attributes:
        name: the source, for messages.
        n: number of rows, when known up front.
        raw: True when batches are raw serving inputs (``.npy``); False when they are
            scaled as ``ddc_tf.data`` scales training data (float32 ``x``).
        batches: an iterator of arrays ``(b, *example_shape)``.
        row_names: one name per row (an image folder's file paths), or None.
        feature_names: the names of the columns (a table's header), or None.
        scale: for scaled batches, ``x = raw · scale`` of the source as ``ddc_tf.data`` reads
            it (1/255 for uint8, 1/16 for digits, 1 otherwise), which must be the model's
            (``predict`` refuses other scaling); None for raw batches.
    """

    name: str
    n: int | None
    raw: bool
    batches: Iterator[np.ndarray]
    row_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    scale: float | None = None


def _npy_stream(path: Path, batch_size: int) -> DataStream:
    from ddc_tf.data.npz import check_npy_header

    check_npy_header(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a plain numeric .npy array ({err})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        array.close()
        raise ValueError(f"{path}: is an .npz archive, not a .npy array; rename it to .npz")
    if array.ndim < 1 or array.shape[0] == 0:
        raise ValueError(f"{path}: holds an array of shape {array.shape}; expected (n, ...) with n > 0")

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, array.shape[0], batch_size):
            yield np.array(array[start : start + batch_size])

    return DataStream(str(path), int(array.shape[0]), True, batches())


def _read_npy_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype] | None:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    return None


def _npz_stream(path: Path, batch_size: int) -> DataStream | None:
    """Stream the dense ``x`` of an ``.npz`` member by member; None when it cannot be
    streamed (CSR layout, Fortran order, unknown header version)."""
    from ddc_tf.data.arrays import dense_images, dense_vectors, raw_scale
    from ddc_tf.data.npz import CSR_KEYS

    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            if "x.npy" not in members or all(f"{key}.npy" in members for key in CSR_KEYS):
                return None  # no dense x, or a CSR matrix beside it: the loader reads or refuses it
            with zf.open("x.npy") as f:
                header = _read_npy_header(f)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # let the ddc_tf.data loader report it
    if header is None:
        return None
    shape, fortran_order, dtype = header
    if fortran_order or dtype.hasobject or len(shape) not in (2, 3, 4) or shape[0] == 0:
        return None
    convert = dense_vectors if len(shape) == 2 else dense_images
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def batches() -> Iterator[np.ndarray]:
        with zipfile.ZipFile(path) as zf, zf.open("x.npy") as f:
            _read_npy_header(f)
            for start in range(0, shape[0], batch_size):
                rows = min(batch_size, shape[0] - start)
                buf = f.read(rows * row_bytes)
                if len(buf) != rows * row_bytes:
                    raise ValueError(f"{path}: 'x' is truncated (ends inside row {start + len(buf) // max(row_bytes, 1)})")
                chunk = np.frombuffer(buf, dtype=dtype).reshape((rows, *shape[1:]))
                x, _, _ = convert(chunk.astype(dtype.newbyteorder("="), copy=False), path)
                yield x

    return DataStream(str(path), int(shape[0]), False, batches(), scale=raw_scale(dtype))


def _idx_stream(path: Path, batch_size: int) -> DataStream | None:
    from ddc_tf.data.arrays import dense_images, raw_scale
    from ddc_tf.data.idx import find_idx_splits, is_idx_folder, iter_idx_chunks, read_idx_header

    if path.is_file():
        if "idx" not in path.name or "images" not in path.name:
            return None
        files = [path]
    elif is_idx_folder(path):
        files = [split["images"] for split in find_idx_splits(path).values() if "images" in split]
    else:
        return None
    headers = [read_idx_header(f) for f in files]
    if any(len(h.shape) not in (3, 4) for h in headers) or len({h.dtype for h in headers}) > 1:
        return None  # the loader gives the error, or reads splits of other dtypes as one array
    n = sum(h.shape[0] for h in headers)

    def batches() -> Iterator[np.ndarray]:
        for f in files:
            for chunk in iter_idx_chunks(f, batch_size):
                x, _, _ = dense_images(chunk, f)
                yield x

    return DataStream(str(path), n, False, batches(), scale=raw_scale(headers[0].dtype))


def _arrays_stream(data: Any, batch_size: int) -> DataStream:
    def batches() -> Iterator[np.ndarray]:
        for start in range(0, data.n, batch_size):
            chunk = data.x[start : start + batch_size]
            yield chunk.toarray() if data.is_sparse else chunk

    return DataStream(data.name, data.n, False, batches(), data.row_names, data.feature_names, data.scale)


def open_data(source: Any, batch_size: int = DEFAULT_BATCH_SIZE, **options: Any) -> DataStream:
    """Open a data source for prediction, as batches of ``batch_size`` rows.

    Args:
        source: a ``.npy`` file (raw serving inputs), an ``.npz`` / IDX file or folder /
            image folder / data set name (read like training data), an ``ArrayData``,
            or an in-memory array (raw serving inputs).
        options: passed to ``ddc_tf.data.load_arrays`` for sources it loads.
    """
    from ddc_tf.data import ArrayData, load_arrays

    if isinstance(source, ArrayData):
        return _arrays_stream(source, batch_size)
    if isinstance(source, np.ndarray):
        array = source

        def batches() -> Iterator[np.ndarray]:
            for start in range(0, array.shape[0], batch_size):
                yield array[start : start + batch_size]

        return DataStream("inputs", int(array.shape[0]) if array.ndim else 0, True, batches())
    path = Path(source)
    if not options and path.exists():
        if path.is_file() and path.suffix.lower() == ".npy":
            return _npy_stream(path, batch_size)
        stream = None
        if path.is_file() and path.suffix.lower() == ".npz":
            stream = _npz_stream(path, batch_size)
        elif not (isinstance(source, str) and _is_known_name(source)):
            stream = _idx_stream(path, batch_size)
        if stream is not None:
            return stream
    elif path.suffix.lower() == ".npy":
        raise FileNotFoundError(f"{path}: no such file")
    return _arrays_stream(load_arrays(source, **_without_labels(source, options)), batch_size)


def _without_labels(source: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` that leave a file's labels unread: labels only score clusters, and new data
    may have none (an empty label column, -1 for "no class"); a table's label column is still
    no feature."""
    from ddc_tf.data.table import is_table_file

    if isinstance(source, str) and _is_known_name(source):
        return options
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".npz":
        return {**options, "label_key": None}
    if is_table_file(path):
        return {**options, "read_labels": False}
    return options


def _is_known_name(source: str) -> bool:
    from ddc_tf.data.sources import named_loader

    return named_loader(source) is not None
