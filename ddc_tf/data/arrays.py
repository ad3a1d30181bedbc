"""`ArrayData`: an in-memory data set, and the validation every loader shares.

Every loader in `ddc_tf.data` ends by building an `ArrayData`; its constructor checks the
structure (dtypes, shapes, label count) once, so the pipeline and the model can trust it.
Content checks that cost a pass over the data (NaN/Inf, label range) live in the
`check_*` helpers below, called by the loaders at their boundary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse

from ddc_tf.checks import counted

__all__ = [
    "ArrayData",
    "KINDS",
    "as_float32_csr",
    "balance_classes",
    "check_finite",
    "check_labels",
    "check_n_clusters",
    "canonical_csr",
    "dense_images",
    "dense_vectors",
    "require_array_data",
]

KINDS = ("image", "vector")


@dataclass(frozen=True)
class ArrayData:
    """A data set held in memory, ready for `to_dataset`.

    Attributes:
        x: float32 inputs. Images: `(n, h, w, c)` (channels last, uint8 sources scaled to
            [0, 1]); vectors: `(n, d)`, dense `np.ndarray` or `scipy.sparse.csr_matrix`.
        y: `(n,)` int64 class labels ≥ 0, or None when the source has no labels. Built-in
            data sets and class names number them `0 … k - 1`; integer labels of a table or
            an `.npz` are kept as given (e.g. {3, 7}: `n_classes` counts the distinct values).
        name: the data set name (`"digits"`) or the path it was read from.
        kind: `"image"` or `"vector"`.
        raw_dtype: dtype of the raw inputs a user would send to a served model
            (`"uint8"` for IDX/PNG images, `"float32"` for vectors).
        scale: `x = raw * scale` (1/255 for uint8 images, 1/16 for digits, 1.0 otherwise).
        class_names: one name per label value, or None.
        image_shape: the shape to plot one example as an image: `x.shape[1:]` for images,
            e.g. `(8, 8)` for the digits vectors, None when the vectors are not images.
        load_options: the loader's options that shaped `x` and that new data must be read
            with too (an image folder's `image_size` and `color`), recorded in `data.json` so
            that `ddc-tf predict`, `plot` and `export` read new images as training did; None
            when the source took none.
        row_names: one name per example, for predictions to be matched back to where each
            example came from (an image folder's file paths, relative to the folder); None
            when the row number says it.
        feature_names: one name per feature of `(n, d)` vectors (a table's header, without
            its label column), recorded in `data.json` so that `ddc-tf predict` can refuse a
            table whose columns are others or in another order; None when unnamed.

    Example:
        >>> data = ArrayData(x=np.zeros((3, 2), np.float32), y=None, name="toy",
        ...                  kind="vector", raw_dtype="float32", scale=1.0)
        >>> data.n, data.input_shape
        (3, (2,))
    """

    x: np.ndarray | scipy.sparse.csr_matrix
    y: np.ndarray | None
    name: str
    kind: str
    raw_dtype: str
    scale: float
    class_names: tuple[str, ...] | None = None
    image_shape: tuple[int, ...] | None = None
    load_options: Mapping[str, Any] | None = None
    row_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        name = self.name
        if self.kind not in KINDS:
            raise ValueError(f"{name}: kind is {self.kind!r}, expected one of {KINDS}")
        x = self.x
        if scipy.sparse.issparse(x):
            if not isinstance(x, scipy.sparse.csr_matrix):
                raise TypeError(
                    f"{name}: sparse x is {type(x).__name__}, expected scipy.sparse.csr_matrix "
                    "(convert with ddc_tf.data.arrays.as_float32_csr)"
                )
            if self.kind != "vector":
                raise ValueError(f"{name}: a sparse x must have kind 'vector', got {self.kind!r}")
        elif not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: x is {type(x).__name__}, expected np.ndarray or csr_matrix")
        if x.dtype != np.float32:
            raise TypeError(f"{name}: x has dtype {x.dtype}, expected float32")
        if self.kind == "vector" and x.ndim != 2:
            raise ValueError(f"{name}: vector x has shape {x.shape}, expected (n, d)")
        if self.kind == "image" and x.ndim != 4:
            raise ValueError(f"{name}: image x has shape {x.shape}, expected (n, h, w, c)")
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the data set is empty (x has shape {x.shape})")
        if any(int(d) == 0 for d in x.shape[1:]):
            raise ValueError(
                f"{name}: x has shape {tuple(x.shape)}: every example needs at least one value "
                "in each dimension (a dimension of size 0)"
            )
        if self.y is not None:
            y = self.y
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise TypeError(
                    f"{name}: y must be a 1-D int64 array, got "
                    f"{getattr(y, 'dtype', type(y).__name__)} with shape {getattr(y, 'shape', None)}"
                )
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{name}: {y.shape[0]} labels for {x.shape[0]} examples (counts must match)"
                )
            if self.class_names is not None and y.size and int(y.max()) >= len(self.class_names):
                raise ValueError(f"{name}: label {int(y.max())} has no name among the {len(self.class_names)} "
                                 "class names (one name per label value 0, 1, …)")
        if self.row_names is not None and len(self.row_names) != x.shape[0]:
            raise ValueError(f"{name}: {len(self.row_names)} row names for {x.shape[0]} examples (counts must match)")
        if self.feature_names is not None and (self.kind != "vector" or len(self.feature_names) != x.shape[1]):
            raise ValueError(f"{name}: {len(self.feature_names)} feature names for {self.kind}s of shape "
                             f"{tuple(x.shape[1:])} (one per feature of (n, d) vectors)")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"{name}: scale must be a positive finite number, got {self.scale}")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != int(
            np.prod(x.shape[1:])
        ):
            raise ValueError(
                f"{name}: image_shape {self.image_shape} does not hold one example of shape "
                f"{tuple(x.shape[1:])}"
            )

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch axis (e.g. `(28, 28, 1)` or `(2000,)`)."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def n_classes(self) -> int | None:
        """Number of distinct labels present, or None without labels."""
        if self.y is None:
            return None
        return int(np.unique(self.y).size)

    @property
    def is_sparse(self) -> bool:
        """True when `x` is a scipy CSR matrix."""
        return scipy.sparse.issparse(self.x)

    def __repr__(self) -> str:  # the default repr would print the arrays
        sparse = f", sparse nnz={self.x.nnz}" if self.is_sparse else ""
        return (
            f"ArrayData(name={self.name!r}, kind={self.kind!r}, n={self.n}, "
            f"input_shape={self.input_shape}{sparse}, n_classes={self.n_classes}, "
            f"raw_dtype={self.raw_dtype!r}, scale={self.scale:g})"
        )


def require_array_data(value: Any, name: str = "data") -> "ArrayData":
    """``value`` if it is an :class:`ArrayData`, else a TypeError saying how to make one."""
    if not isinstance(value, ArrayData):
        raise TypeError(
            f"{name} must be a ddc_tf.data.ArrayData — ddc_tf.data.load_arrays(source), or "
            "ArrayData(x=..., y=None, name=..., kind='vector', raw_dtype='float32', scale=1.0) — "
            f"got {type(value).__module__}.{type(value).__qualname__}; plain arrays go to DDC.fit(x) "
            "or ddc_tf.sklearn.DDCClustering"
        )
    return value


def check_finite(values: np.ndarray | scipy.sparse.spmatrix, where: str | os.PathLike) -> None:
    """Raise ValueError naming `where` if `values` (any shape; a scipy sparse matrix: its stored
    values, and the index is into them) holds NaN or +-Inf."""
    if scipy.sparse.issparse(values):
        values = values.data
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        first = np.unravel_index(int(np.argmax(bad)), values.shape)
        raise ValueError(
            f"{where}: {counted(bad.sum(), 'non-finite value')} ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} Inf); first at index {tuple(int(i) for i in first)}"
        )


def check_labels(y: np.ndarray, n: int, where: str | os.PathLike, key: str = "y") -> np.ndarray:
    """Validate labels and return them as a `(n,)` int64 array.

    Labels must be a 1-D integer array of length `n` with values >= 0. Float labels are
    refused rather than rounded; negative labels (often "unlabelled") must be dropped
    explicitly by the caller.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}: labels {key!r} have shape {y.shape}, expected ({n},)")
    if y.dtype.kind == "f" and np.isfinite(y).all() and np.array_equal(y, np.rint(y)):
        raise ValueError(f"{where}: labels {key!r} have dtype {y.dtype}, expected integers; they are whole "
                         f"numbers, so store them as integers ({key}.astype(np.int64))")
    if y.dtype == np.bool_ or y.dtype.kind not in "iu":
        raise ValueError(f"{where}: labels {key!r} have dtype {y.dtype}, expected integers")
    if y.shape[0] != n:
        raise ValueError(
            f"{where}: {y.shape[0]} labels in {key!r} for {n} examples (counts must match)"
        )
    if y.size and y.min() < 0:
        raise ValueError(
            f"{where}: labels {key!r} contain {int((y < 0).sum())} negative values "
            f"(min {int(y.min())}); drop those rows explicitly"
        )
    if y.size and int(y.max()) > np.iinfo(np.int64).max:  # uint64 beyond int64 would wrap negative
        raise ValueError(f"{where}: labels {key!r} go up to {int(y.max())}, beyond int64; renumber them")
    return y.astype(np.int64, copy=False)


def check_n_clusters(data: ArrayData, n_clusters: int | None) -> None:
    """Raise ValueError if `data` has fewer points than the `n_clusters` asked for."""
    if n_clusters is None:
        return
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise TypeError(f"n_clusters must be an integer, got {n_clusters!r}")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if data.n < n_clusters:
        raise ValueError(
            f"{data.name}: {data.n} points, fewer than the {n_clusters} clusters asked for"
        )


def dense_images(x: np.ndarray, where: str | os.PathLike) -> tuple[np.ndarray, str, float]:
    """Turn a dense image stack into float32 `(n, h, w, c)`.

    Args:
        x: `(n, h, w)` or `(n, h, w, c)` array, channels last. uint8 is scaled by 1/255;
            float arrays are kept as they are (checked finite); other integer types are
            cast exactly to float32 with scale 1.
        where: the path or name used in error messages.

    Returns:
        `(x, raw_dtype, scale)` with `x` float32 `(n, h, w, c)`.
    """
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise ValueError(
            f"{where}: images have shape {x.shape}, expected (n, h, w) or (n, h, w, c)"
        )
    if x.shape[1] in (1, 3, 4) and x.shape[3] not in (1, 3, 4):
        raise ValueError(
            f"{where}: images have shape {x.shape}, which looks channels-first; "
            "expected channels last (n, h, w, c)"
        )
    return _to_float32(x, where)


def _max_abs_int(x: np.ndarray) -> int:
    """The largest |value| of an integer array, as a Python int (no overflow of int64's minimum)."""
    return max(abs(int(x.min())), abs(int(x.max())))


#: The largest integer magnitude float32 holds exactly (and every integer below it).
FLOAT32_EXACT_INT = 2**24


def check_float32_ints(x: np.ndarray, where: str | os.PathLike, what: str = "integer values") -> None:
    """A ValueError when integer (or whole-number) array ``x`` holds a value float32 — what the model
    computes in — cannot hold exactly (beyond ±2**24)."""
    if x.size and (big := _max_abs_int(x)) > FLOAT32_EXACT_INT:
        raise ValueError(f"{where}: {what} up to {big} cannot be held exactly in float32 "
                         f"(at most 2**24 = {FLOAT32_EXACT_INT})")


def check_float32_range(x: np.ndarray, x32: np.ndarray, where: str | os.PathLike) -> None:
    """Raise ValueError if finite ``x`` overflowed to ±Inf when cast to float32 ``x32``."""
    if not np.isfinite(x32).all():
        big = float(np.max(np.abs(x)))
        raise ValueError(
            f"{where}: values up to {big:.3g} exceed float32's range (±3.4e38); rescale the data"
        )


def raw_scale(dtype: np.dtype) -> float:
    """The `scale` dense raw values of `dtype` are read with (`x = raw · scale`): 1/255 for uint8
    (pixels), 1 for every other number."""
    return 1 / 255 if np.dtype(dtype) == np.uint8 else 1.0


def _to_float32(x: np.ndarray, where: str | os.PathLike) -> tuple[np.ndarray, str, float]:
    """Cast raw values to float32; returns `(x, raw_dtype, scale)` (scale: :func:`raw_scale`)."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(raw_scale(x.dtype)), "uint8", raw_scale(x.dtype)
    if x.dtype.kind == "f":
        check_finite(x, where)
        x32 = x.astype(np.float32, copy=False)
        if x.dtype.itemsize > 4:
            check_float32_range(x, x32, where)
        return x32, "float32", 1.0
    if x.dtype.kind in "iu" and x.dtype != np.bool_:
        check_float32_ints(x, where)
        return x.astype(np.float32), str(x.dtype), 1.0
    raise ValueError(f"{where}: x has dtype {x.dtype}, expected numbers (uint8, int or float)")


def dense_vectors(x: np.ndarray, where: str | os.PathLike) -> tuple[np.ndarray, str, float]:
    """Validate a dense `(n, d)` matrix and return `(x float32, raw_dtype, scale)`.

    uint8 vectors are taken as flattened pixels and scaled by 1/255 like images; floats
    are kept (checked finite); other integers are cast exactly with scale 1.
    """
    if x.ndim != 2:
        raise ValueError(f"{where}: vectors have shape {x.shape}, expected (n, d)")
    return _to_float32(x, where)


def as_float32_csr(
    data: np.ndarray,
    indices: np.ndarray,
    indptr: np.ndarray,
    shape: Sequence[int],
    where: str | os.PathLike,
) -> scipy.sparse.csr_matrix:
    """Build and validate a float32 CSR matrix from its arrays.

    Checks (vectorised) that `shape` is 2-D, `indptr` has `n + 1` non-decreasing entries
    from 0 to `nnz`, column indices lie in `[0, d)`, and values are finite; then sums
    duplicates and sorts indices (the canonical form `tf.SparseTensor` expects).
    """
    shape_a = np.asarray(shape)
    if shape_a.ndim != 1 or shape_a.size != 2 or shape_a.dtype.kind not in "iu":
        raise ValueError(f"{where}: CSR 'shape' is {shape_a.tolist()}, expected [n, d] integers")
    n, d = (int(s) for s in shape_a)
    if n < 1 or d < 1:
        raise ValueError(f"{where}: CSR shape is ({n}, {d}); a data set needs n ≥ 1 rows and d ≥ 1 columns")
    data, indices, indptr = (np.asarray(a) for a in (data, indices, indptr))
    for key, arr in (("data", data), ("indices", indices), ("indptr", indptr)):
        if arr.ndim != 1:
            raise ValueError(f"{where}: CSR {key!r} has shape {arr.shape}, expected 1-D")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise ValueError(f"{where}: CSR 'indices'/'indptr' must be integers")
    if data.dtype.kind not in "fiu":
        raise ValueError(f"{where}: CSR 'data' has dtype {data.dtype}, expected numbers")
    if indptr.size != n + 1:
        raise ValueError(f"{where}: CSR 'indptr' has {indptr.size} entries, expected n + 1 = {n + 1}")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != data.size:
        raise ValueError(
            f"{where}: CSR 'indptr' must rise from 0 to nnz = {data.size} "
            "(the file is truncated or corrupt)"
        )
    if indices.size != data.size:
        raise ValueError(
            f"{where}: CSR has {indices.size} 'indices' for {data.size} 'data' values"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= d):
        raise ValueError(
            f"{where}: CSR column indices span [{int(indices.min())}, {int(indices.max())}], "
            f"outside [0, {d})"
        )
    values = data.astype(np.float32, copy=False)
    if data.dtype.kind == "f":
        check_finite(data, f"{where} (sparse 'data')")
        if data.dtype.itemsize > 4:
            check_float32_range(data, values, f"{where} (sparse 'data')")
    else:
        check_float32_ints(data, where, "sparse integer values")
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(n, d))
    return canonical_csr(matrix)


def canonical_csr(matrix: scipy.sparse.spmatrix) -> scipy.sparse.csr_matrix:
    """Return `matrix` as float32 CSR with summed duplicates and sorted column indices; the
    caller's matrix is left as it was (a float32 CSR shares its arrays, which summing rewrites)."""
    matrix = scipy.sparse.csr_matrix(matrix, dtype=np.float32)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()  # also sorts indices
    return matrix


def balance_classes(
    y: np.ndarray,
    per_class: int | None = None,
    seed: int = 0,
    where: str = "data",
) -> np.ndarray:
    """Indices that keep `per_class` examples of every class (default: the smallest count).

    Chooses without replacement with `np.random.default_rng(seed)`; the indices come back
    sorted so the original order is kept.

    Args:
        y: `(n,)` integer labels.
        per_class: examples kept per class; must not exceed the smallest class.
        seed: seed of the choice.

    Returns:
        `(n_classes * per_class,)` int64 indices into `y`, sorted.
    """
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    if per_class is None:
        per_class = smallest
    if per_class < 1 or per_class > smallest:
        raise ValueError(
            f"{where}: per_class={per_class} but the smallest class has {smallest} examples "
            f"(class counts {dict(zip(classes.tolist(), counts.tolist()))})"
        )
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    keep = [order[s + rng.choice(c, per_class, replace=False)] for s, c in zip(starts, counts)]
    return np.sort(np.concatenate(keep)).astype(np.int64)
