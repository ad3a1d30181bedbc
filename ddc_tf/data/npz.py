"""Bring-your-own NumPy files: an `.npz` with a dense `x` or a CSR matrix and optional labels,
or a `.npy` holding the dense `x` alone (no labels).

Layouts (keys of the archive):
- dense: `x` of shape `(n, d)` (vectors), `(n, h, w)` or `(n, h, w, c)` (images,
  channels last). uint8 is scaled by 1/255; floats are kept and checked finite.
- sparse: `data`, `indices`, `indptr`, `shape` of a CSR matrix (`scipy.sparse.csr_matrix
  ((data, indices, indptr), shape)`), loaded as sparse vectors and kept sparse; what
  `scipy.sparse.save_npz` writes for a CSR or CSC matrix (its `format` key says which; a CSC
  matrix is converted to CSR, other formats are refused by name).
- labels: `y` by default — without a `y`, the one key named as a table's label column
  (`label`, `labels`, `class` or `target`, any letter case: `LABEL_COLUMNS`) holding one entry
  per point —, or any key named by `label_key` (e.g. `"y_root"`), 1-D integers.

A `.npy` is one dense array laid out as `x` above; it has no labels.

Files are always opened with `allow_pickle=False`: object arrays are refused, nothing
is unpickled.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ddc_tf.data.arrays import (
    ArrayData,
    as_float32_csr,
    canonical_csr,
    check_labels,
    dense_images,
    dense_vectors,
)
from ddc_tf.data.table import LABEL_COLUMNS

__all__ = ["CSR_KEYS", "check_npy_header", "load_npy", "load_npz", "read_npz"]

CSR_KEYS = ("data", "indices", "indptr", "shape")


class _ObjectArrayError(ValueError):
    """An array of Python objects, which NumPy reads only with pickle (refused)."""


def _unreadable(error: ValueError, subject: str, otherwise: str, advice: str) -> ValueError:
    """The error for ``subject`` that NumPy could not read: object arrays (which would need
    pickle) are refused for safety; anything else is ``otherwise``."""
    if "pickle" in str(error).lower():
        return _ObjectArrayError(f"{subject} holds Python objects, which need pickle; refused for safety (save {advice})")
    return ValueError(f"{subject} {otherwise}: {error}")


def check_npy_header(path: Path) -> None:
    """A ValueError naming ``path`` when it does not start as an ``.npy`` file does (NumPy's
    magic string ``\\x93NUMPY``): NumPy would otherwise try it as a pickle and report Python
    objects. An ``.npz`` under a ``.npy`` name is left to the caller, which says so."""
    with open(path, "rb") as f:
        start = f.read(6)
    if start != b"\x93NUMPY" and not start.startswith(b"PK"):
        hint = " (text: a table? name it .csv)" if start and all(32 <= b < 127 or b in b"\t\r\n" for b in start) else ""
        raise ValueError(f"{path}: not an .npy file: it does not start with NumPy's header{hint}")


class _Archive:
    """Lazy, pickle-free access to the arrays of an `.npz` file, with clear errors.

    Only the keys actually read are decoded, so an unused object array (e.g. a
    vocabulary of Python strings) does not stop the file from loading.
    """

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such .npz file")
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as f:
                start = f.read(8)
            raise ValueError(
                f"{path}: not an .npz archive (an .npz is a zip of .npy arrays, as numpy.savez "
                f"writes it; this file starts with {start!r})"
            )
        try:
            self._npz = np.load(path, allow_pickle=False)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, NotImplementedError) as err:
            raise ValueError(f"{path}: not a readable .npz archive: {err}") from err
        if not hasattr(self._npz, "files"):
            raise ValueError(f"{path}: holds a single array, expected an .npz archive")
        self.keys = tuple(self._npz.files)

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._npz[key]
        except ValueError as err:
            raise _unreadable(err, f"{self.path}: array {key!r}", "is unreadable",
                              "plain numeric or string arrays") from err
        # zlib: a broken deflate stream; SyntaxError: a garbled .npy header; NotImplementedError: a garbled
        # zip version or compression field
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError, NotImplementedError) as err:
            raise ValueError(f"{self.path}: corrupt or truncated .npz archive ({key!r}): {err}") from err

    def close(self) -> None:
        self._npz.close()


def read_npz(path: str | os.PathLike, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read arrays of an `.npz` archive (no pickles): `keys`, or all of them.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not a readable npz (truncated, corrupt), or a requested array holds
            Python objects.
    """
    archive = _Archive(Path(path))
    try:
        return {key: archive[key] for key in (archive.keys if keys is None else keys)}
    finally:
        archive.close()


def load_npz(
    path: str | os.PathLike,
    *,
    label_key: str | None = "y",
    drop_unlabeled: bool = False,
    class_names: Sequence[str] | None = None,
    class_names_key: str | None = None,
    image_shape: Sequence[int] | None = None,
    name: str | None = None,
) -> ArrayData:
    """Load an `.npz` archive as `ArrayData`.

    Args:
        path: the `.npz` file.
        label_key: key of the labels array; the default `"y"` is optional (no key -> the
            one 1-D array of n entries under a table's label name, `LABEL_COLUMNS`, else no
            labels); any other key must exist. None ignores labels. Labels are integers ≥ 0,
            or strings that name the classes (numbered in sorted order, the names kept as
            `class_names`).
        drop_unlabeled: drop rows whose label is negative (e.g. -1 = "no class"); without
            it negative labels are an error.
        class_names: names of the label values.
        class_names_key: key of a string array holding the class names (instead of
            `class_names`).
        image_shape: how to plot one vector as an image, e.g. `(28, 28)`.
        name: the `ArrayData.name` (default: the path).

    Returns:
        `ArrayData`: `kind="image"` for dense rank 3/4 `x`, `"vector"` otherwise
        (sparse CSR for the `data/indices/indptr/shape` layout).
    """
    path = Path(path)
    arrays = _Archive(path)
    try:
        return _from_archive(
            arrays, path, label_key, drop_unlabeled, class_names, class_names_key, image_shape, name
        )
    finally:
        arrays.close()


def _dense(raw: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, str, float, str]:
    """A dense array as `(x float32, raw_dtype, scale, kind)`: images for rank 3/4, vectors for rank 2."""
    if raw.ndim in (3, 4):
        return (*dense_images(raw, path), "image")
    if raw.ndim == 2:
        return (*dense_vectors(raw, path), "vector")
    raise ValueError(
        f"{path}: {what} has rank {raw.ndim} (shape {raw.shape}); expected (n, d), "
        "(n, h, w) or (n, h, w, c)"
    )


def load_npy(
    path: str | os.PathLike,
    *,
    image_shape: Sequence[int] | None = None,
    name: str | None = None,
) -> ArrayData:
    """Load a `.npy` file of dense inputs as unlabeled `ArrayData`.

    Args:
        path: the `.npy` file: `(n, d)` vectors, or `(n, h, w)` / `(n, h, w, c)` images
            (channels last); uint8 is scaled by 1/255, as in an `.npz`.
        image_shape: how to plot one vector as an image, e.g. `(8, 8)`.
        name: the `ArrayData.name` (default: the path).

    Returns:
        `ArrayData` with `y=None`; labels need an `.npz` with a `y` array.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not a readable `.npy` (an `.npz`, truncated, Python objects), or a rank
            other than 2, 3 or 4.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .npy file")
    check_npy_header(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise _unreadable(err, f"{path}:", "not a readable .npy array", "a plain numeric array") from err
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array: {err}") from err
    if not isinstance(raw, np.ndarray):
        raw.close()
        raise ValueError(f"{path}: an .npz archive under a .npy name; rename it to .npz")
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{path}: dtype {raw.dtype} is not numeric; expected numbers (uint8 pixels or floats)")
    x, raw_dtype, scale, kind = _dense(raw, path, "the array")
    return _array_data(x, None, path, kind, raw_dtype, scale, None, image_shape, name)


def _sparse_format(arrays: _Archive, path: Path) -> str | None:
    """The ``format`` scipy.sparse.save_npz records (``"csr"``, ``"csc"``, ``"coo"``, …); None
    when the archive has no such key (the plain ``data/indices/indptr/shape`` layout: CSR). CSR
    and CSC are read (``_from_archive``); any other is refused there, by name."""
    if "format" not in arrays:
        return None
    recorded = np.asarray(arrays["format"])
    if recorded.ndim != 0 or recorded.dtype.kind not in "SU":
        raise ValueError(f"{path}: 'format' is {recorded!r}; scipy.sparse.save_npz writes a string such as 'csr'")
    layout = recorded.item()
    return (layout.decode("ascii", "replace") if isinstance(layout, bytes) else str(layout)).lower()


def _as_text(strings: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A bytes array (numpy's ``S`` dtype, as np.savez stores Python 2-style strings) as text (``U``), not
    as ``"b'cat'"``; any other array as it is. A ValueError naming ``what`` for bytes that are not UTF-8."""
    if strings.dtype.kind != "S":
        return strings
    try:
        return np.char.decode(strings, "utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: {what} are bytes that are not UTF-8 text") from None


def _from_archive(
    arrays: _Archive,
    path: Path,
    label_key: str | None,
    drop_unlabeled: bool,
    class_names: Sequence[str] | None,
    class_names_key: str | None,
    image_shape: Sequence[int] | None,
    name: str | None,
) -> ArrayData:
    has_csr = all(k in arrays for k in CSR_KEYS)
    if "x" in arrays and has_csr:
        raise ValueError(f"{path}: holds both a dense 'x' and a CSR matrix; keep one")
    layout = None if "x" in arrays else _sparse_format(arrays, path)  # beside a dense x: the user's own key
    if layout not in (None, "csr", "csc"):  # coo, dia; bsr has indices and indptr, but of blocks
        raise ValueError(f"{path}: a scipy sparse matrix in {layout!r} format; save it as CSR or CSC: "
                         f"scipy.sparse.save_npz(path, matrix.tocsr())")
    if has_csr:
        if layout == "csc":  # scipy.sparse.save_npz of a CSC matrix: the CSR arrays of its transpose
            transpose = as_float32_csr(arrays["data"], arrays["indices"], arrays["indptr"],
                                       np.asarray(arrays["shape"]).ravel()[::-1], where=f"{path} (CSC, read as its transpose)")
            x = canonical_csr(transpose.T)
        else:
            x = as_float32_csr(*(arrays[k] for k in CSR_KEYS), where=path)
        raw_dtype, scale, kind = "float32", 1.0, "vector"
    elif "x" in arrays:
        x, raw_dtype, scale, kind = _dense(arrays["x"], path, "'x'")
    else:
        partial = [k for k in CSR_KEYS if k in arrays]
        absent = [k for k in CSR_KEYS if k not in arrays]
        data_shape = np.shape(arrays["data"]) if partial == ["data"] else ()
        if len(data_shape) >= 2:  # dense features under a CSR key's name
            raise ValueError(f"{path}: no 'x' array; 'data' holds a {data_shape} array, dense "
                             "features rather than a CSR matrix's values: save them as x "
                             "(np.savez(path, x=features, y=labels))")
        hint = f" (CSR keys present: {partial}, missing: {absent})" if partial else ""
        raise ValueError(
            f"{path}: no 'x' array and no CSR matrix ('data', 'indices', 'indptr', 'shape'); "
            f"keys are {sorted(arrays.keys)}{hint}"
            f"{'' if partial else '; save the features by name: np.savez(path, x=features, y=labels)'}"
        )
    n = x.shape[0]
    y = None
    if label_key == "y" and "y" not in arrays:
        label_key = _labels_by_another_name(arrays, path, n, drop_unlabeled)
    if label_key is not None:
        if label_key in arrays:
            y = np.asarray(arrays[label_key])
            if y.ndim == 1:
                y = _as_text(y, path, f"labels {label_key!r}")
            if y.dtype.kind == "U" and y.ndim == 1:  # class names as labels, as a table's label column may hold them
                if class_names is not None or class_names_key is not None:
                    raise ValueError(f"{path}: labels {label_key!r} are strings, which name the classes "
                                     "themselves; drop the separate class names")
                if np.any(y == ""):
                    raise ValueError(f"{path}: labels {label_key!r} hold an empty string at index "
                                     f"{int(np.flatnonzero(y == '')[0])}")
                names, y = np.unique(y, return_inverse=True)
                class_names = [str(s) for s in names]
            if drop_unlabeled and y.dtype.kind in "iu" and y.ndim == 1 and y.shape[0] == n:
                keep = np.flatnonzero(y >= 0)
                if keep.size == 0:
                    raise ValueError(f"{path}: every label in {label_key!r} is negative")
                if keep.size < n:
                    x, y = x[keep], y[keep]
                    n = keep.size
            y = check_labels(y, n, path, key=label_key)
        elif label_key != "y":
            raise ValueError(f"{path}: no labels key {label_key!r}; keys are {sorted(arrays.keys)}")
    if class_names_key is not None:
        names = arrays[class_names_key] if class_names_key in arrays else None
        if names is None or names.dtype.kind not in "US" or names.ndim != 1:
            raise ValueError(f"{path}: no 1-d string array {class_names_key!r} of class names")
        class_names = [str(s) for s in _as_text(names, path, f"the class names in {class_names_key!r}").tolist()]
    return _array_data(x, y, path, kind, raw_dtype, scale, class_names, image_shape, name)


def _labels_by_another_name(arrays: _Archive, path: Path, n: int, drop_unlabeled: bool) -> str | None:
    """The key of an `.npz` without `y` that holds its labels under a name a table's label
    column takes (`LABEL_COLUMNS`, any letter case: `labels`, `target`, …) — a 1-D array of
    one entry per point, of integers ≥ 0 (any with ``drop_unlabeled``) or strings —; None
    when there is none. Two such keys are refused; a key so named that cannot be labels
    (floats, negative numbers: a regression target) is passed over with a warning, as the
    file read before."""
    def labels_by_name(key: str) -> bool:
        try:
            values = arrays[key]
        except _ObjectArrayError:  # a vocabulary of Python objects: no labels (a damaged file still fails)
            return False
        if values.ndim != 1 or len(values) != n:
            return False
        if values.dtype.kind in "US" or (values.dtype.kind in "iu" and (drop_unlabeled or values.min() >= 0)):
            return True
        warnings.warn(f"{path}: {key!r} is named like labels but holds "
                      + ("negative numbers" if values.dtype.kind in "iu" else f"{values.dtype} values")
                      + "; read without labels (name it with --labels, label_key= in Python, to have it checked)",
                      stacklevel=4)
        return False

    found = [k for k in arrays.keys if k.lower() in LABEL_COLUMNS and labels_by_name(k)]
    if len(found) > 1:
        raise ValueError(f"{path}: no 'y', and {found} could each hold the labels; name the one that does "
                         "(ddc-tf fit --labels NAME; label_key= in Python)")
    return found[0] if found else None


def _array_data(x, y, path: Path, kind: str, raw_dtype: str, scale: float,
                class_names: Sequence[str] | None, image_shape: Sequence[int] | None,
                name: str | None) -> ArrayData:
    """The `ArrayData` of a NumPy file: named by its path unless `name` is given; images are
    drawn at their own shape, vectors at `image_shape` if one is given."""
    if kind == "image":
        image_shape = x.shape[1:]
    return ArrayData(
        x=x,
        y=y,
        name=name or str(path),
        kind=kind,
        raw_dtype=raw_dtype,
        scale=scale,
        class_names=tuple(class_names) if class_names is not None else None,
        image_shape=tuple(int(s) for s in image_shape) if image_shape is not None else None,
    )
