"""Bring-your-own tables: a `.csv` or `.tsv` file (optionally gzipped) of numeric features,
one row per point, with an optional header and an optional column of labels.

- Delimiter: a tab for `.tsv`; for `.csv` a comma, or a semicolon when the first line has
  semicolons and no commas (the usual export of spreadsheets in decimal-comma locales is
  *not* read: `1,5` is refused, not guessed).
- Header: the first row is a header when any of its fields is not a number.
- Labels: the header's column named `label_column` (`"y"` by default, the key an `.npz`
  uses) holds them; without such a column the table has no labels. Integers are kept as they
  are (negative ones are refused, as in an `.npz`); any other values (class names such as
  `setosa`) are numbered in sorted order and kept as `ArrayData.class_names`.
- Every other column is a feature and must hold a finite number in every row: an empty
  cell, a word or `nan` is an error that names the file, the row and the column — nothing is
  dropped or imputed.

Features are read as they are (float32); standardise them first if their scales differ, as
one would for k-means.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from pathlib import Path

import numpy as np

from ddc_tf.data.arrays import ArrayData, check_labels

__all__ = ["TABLE_SUFFIXES", "is_table_file", "load_table"]

#: File names `load_table` reads (case-insensitive).
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def is_table_file(path: str | os.PathLike) -> bool:
    """Whether `path` is named like a table `load_table` reads (`TABLE_SUFFIXES`)."""
    return Path(path).name.lower().endswith(TABLE_SUFFIXES)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _read_rows(path: Path) -> list[list[str]]:
    """The table's rows as lists of stripped strings (blank lines skipped)."""
    with _open_text(path) as f:
        try:
            first = f.readline()
        except (UnicodeDecodeError, OSError, EOFError) as err:
            raise ValueError(f"{path}: not a readable UTF-8 text table: {err}") from err
        if ".tsv" in path.name.lower():
            delimiter = "\t"
        else:
            delimiter = ";" if ";" in first and "," not in first else ","
        f.seek(0)
        try:
            return [[field.strip() for field in row] for row in csv.reader(f, delimiter=delimiter, skipinitialspace=True)
                    if any(field.strip() for field in row)]
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as err:
            raise ValueError(f"{path}: not a readable text table: {err}") from err


def _labels(values: list[str], path: Path, column: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """A label column as `(y int64, class_names or None)`."""
    if all(_INTEGER.fullmatch(v) for v in values):  # integers: kept as they are (negative ones refused)
        return check_labels(np.array([int(v) for v in values], dtype=np.int64), len(values), path, column), None
    if any(not v for v in values):
        row = next(i for i, v in enumerate(values) if not v)
        raise ValueError(f"{path}: the label column {column!r} is empty in data row {row + 1}")
    names, y = np.unique(np.array(values), return_inverse=True)
    return y.astype(np.int64), tuple(str(s) for s in names)


def load_table(
    path: str | os.PathLike,
    *,
    label_column: str | None = "y",
    name: str | None = None,
) -> ArrayData:
    """Load a numeric `.csv` / `.tsv` table as `ArrayData` of `(n, d)` float32 vectors.

    Args:
        path: the file (`.csv`, `.tsv`, or either gzipped); layout in the module docstring.
        label_column: the header's column of labels; a table without it has no labels, but a
            name other than the default `"y"` must exist. `None`: every column is a feature.
        name: the `ArrayData.name` (default: the path).

    Returns:
        `ArrayData` (kind `"vector"`, scale 1) with `y` and `class_names` from the label column.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: no data rows, rows of different lengths, a non-numeric, empty or
            non-finite feature cell (named by row and column), a label column that is not in
            the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table file")
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: the table is empty")
    header = None if all(_is_number(v) for v in rows[0]) else rows[0]
    body = rows[1:] if header is not None else rows
    if not body:
        raise ValueError(f"{path}: the table has a header and no data rows")
    width = len(header) if header is not None else len(body[0])
    for i, row in enumerate(body):
        if len(row) != width:
            raise ValueError(f"{path}: data row {i + 1} has {len(row)} fields, expected {width}"
                             + (" (as the header)" if header is not None else " (as the first row)"))
    label_at = None
    if label_column is not None:
        if header is not None and header.count(label_column) > 1:
            raise ValueError(f"{path}: the header names {label_column!r} {header.count(label_column)} times")
        if header is not None and label_column in header:
            label_at = header.index(label_column)
        elif label_column != "y":
            raise ValueError(f"{path}: no label column {label_column!r}; "
                             + (f"the header is {header}" if header is not None else "the table has no header"))
    columns = [j for j in range(width) if j != label_at]
    if not columns:
        raise ValueError(f"{path}: no feature columns besides the labels {label_column!r}")
    cells = np.array([[row[j] for j in columns] for row in body], dtype=object)
    def where(i: int, j: int) -> str:
        column = repr(header[columns[j]]) if header is not None else str(columns[j] + 1)
        return f"{path}: data row {i + 1}, column {column}: {cells[i, j]!r}"

    try:
        x = cells.astype(np.float64)
    except ValueError:
        i, j = next((i, j) for i, row in enumerate(cells) for j, v in enumerate(row) if not _is_number(v))
        hint = f"; if it holds the classes, name it {label_column!r}" if header is not None and label_column else ""
        raise ValueError(f"{where(i, j)} is not a number (every feature cell must be one{hint})") from None
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    bad = ~np.isfinite(x32)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise ValueError(f"{where(i, j)} is not a finite float32 number ({int(bad.sum())} such cells)")
    y, class_names = (None, None) if label_at is None else _labels([row[label_at] for row in body], path,
                                                                  header[label_at])
    return ArrayData(x=x32, y=y, name=name or str(path), kind="vector", raw_dtype="float32", scale=1.0,
                     class_names=class_names)
