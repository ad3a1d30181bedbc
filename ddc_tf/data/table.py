"""Bring-your-own tables: a `.csv` or `.tsv` file (optionally gzipped) of numeric features,
one row per point, with an optional header and an optional column of labels.

- Delimiter: a tab for `.tsv`; for `.csv` a comma, or a semicolon when the first line has
  semicolons and no commas (the usual export of spreadsheets in decimal-comma locales is
  *not* read: `1,5` is refused, not guessed).
- Header: the first row is a header when any of its fields is not a number, or when it is
  0, 1, …, d − 1 for d ≥ 3 columns (pandas' default column names; with a warning).
- Labels: the header's column named `y` (the key an `.npz` uses), `label`, `labels`, `class`
  or `target` (`LABEL_COLUMNS`, in any letter case; a table with two of them is refused), or
  the one named by `label_column`, holds them; without such a column the table has no labels.
  Integers are kept as they are (negative ones are refused, as in an `.npz`); any other
  values (class names such as `setosa`) are numbered in sorted order and kept as
  `ArrayData.class_names`.
- Every other column is a feature and must hold a finite number in every row: an empty
  cell, a word or `nan` is an error that names the file, the row and the column — nothing is
  dropped or imputed.

Features are read as they are (float32); standardise them first if their scales differ, as
one would for k-means. A feature column that counts the rows (0, 1, 2, … or 1, 2, 3, …: an
`Id` column) is kept, with a warning.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from ddc_tf.checks import counted
from ddc_tf.data.arrays import FLOAT32_EXACT_INT, ArrayData, check_labels

__all__ = ["LABEL_COLUMNS", "TABLE_SUFFIXES", "is_table_file", "load_table"]

#: File names `load_table` reads (case-insensitive).
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: Header names taken as the label column when `load_table` is not told one (any letter case):
#: `.npz`'s key, Kaggle's, UCI's and scikit-learn's `as_frame` names.
LABEL_COLUMNS = ("y", "label", "labels", "class", "target")


def is_table_file(path: str | os.PathLike) -> bool:
    """Whether `path` is named like a table `load_table` reads (`TABLE_SUFFIXES`)."""
    return Path(path).name.lower().endswith(TABLE_SUFFIXES)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


#: Cells that mean "no value" (lower case, stripped): beside numbers in the first row they make it
#: a data row with gaps, not a header.
MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "missing"})


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _read_text(path: Path) -> str:
    with _open_text(path) as f:
        try:
            return f.read()
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: not a readable UTF-8 text table: {err}") from err


def _delimiter(path: Path, text: str) -> str:
    if ".tsv" in path.name.lower():
        return "\t"
    first = next((line for line in text.splitlines() if line.strip()), "")  # blank lines are skipped
    return ";" if ";" in first and "," not in first else ","


def _parse_rows(path: Path, text: str, delimiter: str) -> list[list[str]]:
    """The table's rows as lists of stripped fields (blank lines skipped; a line of empty
    fields, such as ``,,``, is a row), by the csv module."""
    try:
        return [[field.strip() for field in row]
                for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
                if row]
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable text table: {err}") from err


def _plain_numbers(lines: list[str], delimiter: str, width: int, columns: list[int],
                   label_at: int | None) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(x float32, label strings)`` by NumPy's parser for a plain table (no quotes, every
    line ``width`` fields, numbers only); None otherwise, for the csv module's slower reading
    to parse or to name the problem. On Fashion-MNIST's training set as a 60 000 × 785 CSV
    (133 MB, a `label` column) `load_table` takes 3.1 s and 1.2 GB at its peak this way,
    against 9.2 s and 3.5 GB with every cell parsed in Python (2 cores, TensorFlow loaded)."""
    if any(line.count(delimiter) != width - 1 or '"' in line for line in lines):
        return None
    options = dict(delimiter=delimiter, comments=None)
    try:
        x = np.loadtxt(lines, usecols=columns, dtype=np.float32, ndmin=2, **options)
        labels = None if label_at is None else np.loadtxt(lines, usecols=[label_at], dtype=str, ndmin=1, **options)
    except ValueError:
        return None
    return x, labels


def _check_whole_numbers_fit(x32: np.ndarray, cell: Callable[[int, int], str], path: Path,
                             names: list[str | None]) -> None:
    """A ValueError when a cell written as an integer (``1700000123``: an id, a count, a time
    stamp) holds one float32 changes (beyond 2**24): an `.npz` of such integers is refused too.
    ``cell(i, j)``: the cell as written (read only in columns that reach 2**24); numbers written
    otherwise (``1.5e20``, ``2.5``) are read as floats, rounded."""
    for j in np.flatnonzero(np.max(np.abs(x32), axis=0, initial=0) >= FLOAT32_EXACT_INT):
        for i in range(x32.shape[0]):
            text = cell(i, j)
            if _INTEGER.fullmatch(text) and int(text) != int(x32[i, j]):
                raise ValueError(f"{path}: column {names[j] or j + 1!r} holds integers float32 cannot hold exactly "
                                 f"(beyond 2**24 = {FLOAT32_EXACT_INT}): {int(text)} in data row {i + 1} would be "
                                 f"read as {int(x32[i, j])}; drop the column if it is an id, or rescale it")


def _labels(values: list[str], path: Path, column: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """A label column as `(y int64, class_names or None)`."""
    if all(_INTEGER.fullmatch(v) for v in values):  # integers: kept as they are (negative ones refused)
        try:
            y = np.array([int(v) for v in values], dtype=np.int64)
        except OverflowError:
            big = next(v for v in values if not -2**63 <= int(v) < 2**63)
            raise ValueError(f"{path}: the label column {column!r} holds {big}, beyond int64; renumber the "
                             "classes 0, 1, 2, …") from None
        return check_labels(y, len(values), path, column), None
    if any(not v for v in values):
        row = next(i for i, v in enumerate(values) if not v)
        raise ValueError(f"{path}: the label column {column!r} is empty in data row {row + 1}")
    names, y = np.unique(np.array(values), return_inverse=True)
    return y.astype(np.int64), tuple(str(s) for s in names)


def _warn_about_row_numbers(x: np.ndarray, path: Path, names: list[str | None]) -> None:
    """Warn about feature columns that count the rows (an ``Id`` column, often the first of a
    downloaded table): 0, 1, 2, … or 1, 2, 3, …. They would be clustered as features. A column
    named None is left out (warned about already)."""
    if x.shape[0] < 3:
        return
    steps = np.diff(x, axis=0)
    counting = np.flatnonzero(np.all(steps == 1, axis=0) & np.isin(x[0], (0, 1))
                              & np.array([name is not None for name in names]))
    if counting.size:
        columns = ", ".join(repr(names[j]) for j in counting)
        warnings.warn(f"{path}: column {columns} counts the rows ({int(x[0, counting[0]])}, "
                      f"{int(x[1, counting[0]])}, …): a row number is clustered as a feature; drop it "
                      "from the file if it is one", stacklevel=3)


def _label_index(path: Path, header: list[str] | None, label_column: str | tuple[str, ...] | None) -> int | None:
    """The header's index of the label column (see :func:`load_table`), or None."""
    if isinstance(label_column, (tuple, list)):  # a list: as data.json records a named column
        candidates = {name.lower() for name in label_column}
        found = [name for name in (header or []) if name.lower() in candidates]
        if len(found) > 1:
            raise ValueError(f"{path}: the header has {len(found)} columns that could hold the labels, {found}; "
                             "rename all but one (or name it: load_arrays(path, label_column=...))")
        label_column = found[0] if found else None
    elif label_column is not None and (header is None or label_column not in header):
        raise ValueError(f"{path}: no label column {label_column!r}; "
                         + (f"the header is {header}" if header is not None else "the table has no header"))
    if label_column is None:
        return None
    if header.count(label_column) > 1:
        raise ValueError(f"{path}: the header names {label_column!r} {header.count(label_column)} times")
    return header.index(label_column)


def load_table(
    path: str | os.PathLike,
    *,
    label_column: str | tuple[str, ...] | None = LABEL_COLUMNS,
    read_labels: bool = True,
    name: str | None = None,
) -> ArrayData:
    """Load a numeric `.csv` / `.tsv` table as `ArrayData` of `(n, d)` float32 vectors.

    Args:
        path: the file (`.csv`, `.tsv`, or either gzipped); layout in the module docstring.
        label_column: the header's column of labels, which must exist; or a tuple (or list) of
            candidate names (any letter case), of which the header may have one — by default
            `LABEL_COLUMNS`. `None`: every column is a feature. A column named here is recorded
            as `load_options={"label_column": [name]}`, so that new tables are read the same
            way (`ddc-tf predict`): without that column, or with it — not as a feature.
        read_labels: False leaves the label column's cells unread (`y` None): a table given for
            prediction may have it empty, or hold -1 for "no class"; it is still no feature.
        name: the `ArrayData.name` (default: the path).

    Returns:
        `ArrayData` (kind `"vector"`, scale 1) with `y` and `class_names` from the label column,
        and `feature_names` from the header (None without one).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: no data rows, rows of different lengths, a non-numeric, empty or
            non-finite feature cell (named by row and column), a label column that is not in
            the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table file")
    text = _read_text(path)
    delimiter = _delimiter(path, text)
    numbered = [(k + 1, line) for k, line in enumerate(text.splitlines()) if line.strip()]  # blank lines skipped
    line_numbers, lines = [k for k, _ in numbered], [line for _, line in numbered]
    if not lines:
        raise ValueError(f"{path}: the table is empty")
    first = _parse_rows(path, lines[0], delimiter)[0]  # a line of empty fields (,,) is a header
    header = None if all(_is_number(v) for v in first) else first
    missing = [j for j, v in enumerate(first) if v.strip().lower() in MISSING_CELLS]
    # DataFrame.to_csv() with its index: an unnamed first column, then the column names (numbers for years, ids)
    pandas_index = len(first) > 1 and first[0] == "" and all(_is_number(v) for v in first[1:])
    if pandas_index and first[1:] != [str(j) for j in range(len(first) - 1)]:
        warnings.warn(f"{path}: the first row, with an empty first cell and numbers after it, is read as column names "
                      "(pandas' to_csv() writes its index so); if it is a data row with a missing first value, fill "
                      "that cell", stacklevel=2)
    if header is not None and missing and any(_is_number(v) for v in first) and not pandas_index:
        j = missing[0]  # numbers with gaps: a data row with missing values, not column names
        raise ValueError(f"{path}: the first row (line {line_numbers[0]}) holds numbers and, in column {j + 1}, "
                         f"{first[j]!r}: a data row with a missing value (which tables cannot hold), or a header "
                         "whose names are numbers and gaps; fill or drop the missing cells, or name every column")
    if header is None and len(first) >= 3 and first == [str(j) for j in range(len(first))]:
        header = first  # pandas' default column names (DataFrame(x).to_csv(index=False)), not a point
        warnings.warn(f"{path}: the first row, 0, 1, …, {len(first) - 1}, is read as column names "
                      "(pandas' default header), not as a point", stacklevel=2)
    if header is not None:
        lines, line_numbers = lines[1:], line_numbers[1:]
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            warnings.warn(f"{path}: the header names {', '.join(map(repr, repeated))} more than once; each such "
                          "column is read as a feature of its own", stacklevel=2)
    if not lines:
        raise ValueError(f"{path}: the table has a header and no data rows")
    width = len(first)
    label_at = _label_index(path, header, label_column)
    columns = [j for j in range(width) if j != label_at]
    if not columns:
        raise ValueError(f"{path}: no feature columns besides the labels {header[label_at]!r}")

    def row(i: int) -> str:  # the line too, when rows are lines (no quoted field spans lines)
        return f"data row {i + 1}" + (f" (line {line_numbers[i]})" if rows_are_lines else "")

    def where(i: int, j: int, cell: str) -> str:
        column = repr(header[columns[j]]) if header is not None else str(columns[j] + 1)
        return f"{path}: {row(i)}, column {column}: {cell!r}"

    rows_are_lines = True
    plain = _plain_numbers(lines, delimiter, width, columns, label_at)
    if plain is not None:
        x32, labels = plain
        label_values = None if labels is None else [str(v).strip() for v in labels]

        def cell(i: int, j: int) -> str:
            return lines[i].split(delimiter)[columns[j]].strip()
    else:
        body = _parse_rows(path, "\n".join(lines), delimiter)
        rows_are_lines = len(body) == len(lines)
        for i, fields in enumerate(body):
            if len(fields) != width:
                # a header of one '#' field is a comment line (not numpy.savetxt's '# a,b,c' header)
                comment = next((line for line in ((first[0] if len(first) == 1 else ""), fields[0] if fields else "")
                                if line.lstrip().startswith("#")), None)
                raise ValueError(f"{path}: {row(i)} has {counted(len(fields), 'field')}, expected {width}"
                                 + (" (as the header)" if header is not None else " (as the first row)")
                                 + (f"; {comment.strip()[:40]!r} looks like a comment line, which tables "
                                    "cannot hold: remove it" if comment else ""))
        cells = np.array([[fields[j] for j in columns] for fields in body], dtype=object)

        def cell(i: int, j: int) -> str:
            return cells[i, j]

        try:
            x = cells.astype(np.float64)
        except ValueError:
            i, j = next((i, j) for i, row in enumerate(cells) for j, v in enumerate(row) if not _is_number(v))
            hint = ("; if it holds the classes, name it y, or name it as the labels (ddc-tf fit --labels NAME; "
                    "label_column= in Python)") if header is not None and label_at is None else ""
            raise ValueError(f"{where(i, j, cells[i, j])} is not a number (every feature cell must be one{hint})") from None
        with np.errstate(over="ignore"):
            x32 = x.astype(np.float32)
        label_values = None if label_at is None else [fields[label_at] for fields in body]
    bad = ~np.isfinite(x32)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise ValueError(f"{where(i, j, cell(i, j))} is not a finite float32 number ({counted(bad.sum(), 'such cell')})")
    names = [header[j] if header is not None else str(j + 1) for j in columns]
    _check_whole_numbers_fit(x32, cell, path, names)
    y, class_names = (None, None) if label_values is None or not read_labels else _labels(label_values, path, header[label_at])
    if header is not None and columns[0] == 0 and header[0] == "" and width > 1:
        warnings.warn(f"{path}: the first column has no name, as the index pandas' to_csv() writes: it is clustered "
                      "as a feature; write the table with to_csv(index=False), or name the column if it is one",
                      stacklevel=2)
        names[0] = None  # not warned about twice
    _warn_about_row_numbers(x32, path, names)
    return ArrayData(x=x32, y=y, name=name or str(path), kind="vector", raw_dtype="float32", scale=1.0,
                     class_names=class_names,
                     feature_names=None if header is None else tuple(header[j].strip() for j in columns),
                     load_options={"label_column": [label_column]} if isinstance(label_column, str) else None)
