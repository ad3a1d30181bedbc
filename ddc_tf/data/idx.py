"""IDX files (the MNIST format), plain or gzip-compressed, parsed with numpy.

An IDX file is a 4-byte big-endian magic `00 00 <dtype code> <ndim>`, then `ndim`
big-endian uint32 sizes, then the values in C order (big-endian for multi-byte types).
MNIST-style images are magic 2051 (`0x00000803`: uint8, 3-D `(n, h, w)`) and labels
magic 2049 (`0x00000801`: uint8, 1-D `(n,)`).

A folder holds one or more splits named `<split>-images-idx3-ubyte[.gz]` and
`<split>-labels-idx1-ubyte[.gz]` (a `.` instead of the last `-`, as some mirrors write
it, is accepted too). All splits present are merged, `train` first, then `t10k`/`test`,
then any others in name order.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from ddc_tf.data.arrays import ArrayData, check_labels, dense_images

__all__ = [
    "IDX_DTYPES",
    "IDXHeader",
    "find_idx_splits",
    "is_idx_folder",
    "iter_idx_chunks",
    "load_idx_folder",
    "read_idx",
    "read_idx_header",
    "check_declared_size",
]

# IDX type code -> numpy dtype (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 2051  # uint8, 3 dims
LABELS_MAGIC = 2049  # uint8, 1 dim
_GZIP_MAGIC = b"\x1f\x8b"
_FILE_RE = re.compile(r"^(?P<split>.+?)-(?P<what>images|labels)[-.]idx(?P<ndim>\d)-ubyte(?P<gz>\.gz)?$")
_SPLIT_ORDER = {"train": 0, "t10k": 1, "test": 1}


class IDXHeader:
    """Parsed IDX header: `dtype`, `shape` (tuple of ints), `offset` (bytes) and `magic`."""

    __slots__ = ("dtype", "shape", "offset", "magic")

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...], offset: int, magic: int):
        self.dtype, self.shape, self.offset, self.magic = dtype, shape, offset, magic

    @property
    def nbytes(self) -> int:
        """Bytes of payload the header announces (a Python int: no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"IDXHeader(magic={self.magic}, dtype={self.dtype}, shape={self.shape})"


#: Deflate cannot compress more than about 1032:1, so a gzip file of S bytes holds at most
#: this many times S bytes; a header announcing more is refused before anything is read.
MAX_GZIP_RATIO = 1032


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


#: The most dimensions an IDX header may declare here (its rank byte allows 255).
MAX_IDX_DIMS = 16


def _open(path: Path) -> BinaryIO:
    """Open an IDX file, transparently gunzipping it (detected by content, not by name)."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _read_header(f: BinaryIO, path: Path) -> IDXHeader:
    head = f.read(4)
    if len(head) == 4 and head[:2] == b"\0\0" and head[3] > MAX_IDX_DIMS:
        raise ValueError(f"{path}: the IDX header declares {head[3]} dimensions; IDX files of images and "
                         f"labels have 1 to 4 (this reader takes up to {MAX_IDX_DIMS}): not an IDX file, or a corrupt one")
    if len(head) == 4:
        head += f.read(4 * head[3])
    return _parse_header(head, path)


def check_declared_size(header: IDXHeader, path: Path) -> None:
    """Refuse a header whose shape the file cannot hold, before allocating anything.

    Checks with Python ints: no dimension is 0; an uncompressed file's size is exactly
    header + payload; a gzip file is not asked to expand beyond ``MAX_GZIP_RATIO``.
    """
    if any(d == 0 for d in header.shape):
        raise ValueError(f"{path}: IDX header announces shape {header.shape}, with a dimension of size 0")
    file_size = path.stat().st_size
    if _is_gzip(path):
        if header.nbytes > MAX_GZIP_RATIO * file_size:
            raise ValueError(
                f"{path}: IDX header announces shape {header.shape} ({header.nbytes} bytes), more "
                f"than a {file_size}-byte gzip file can hold; the file is corrupt"
            )
        return
    payload = file_size - header.offset
    if payload != header.nbytes:
        problem = "truncated" if payload < header.nbytes else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX file {problem}: header announces shape {header.shape} "
            f"({header.nbytes} bytes of {header.dtype}), found {payload} bytes"
        )


def _parse_header(head: bytes, path: Path) -> IDXHeader:
    if len(head) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(head)} bytes, no complete header)")
    magic = int.from_bytes(head[:4], "big")
    if head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES or head[3] == 0:
        raise ValueError(
            f"{path}: wrong IDX magic number {magic} (0x{magic:08x}); expected "
            f"{IMAGES_MAGIC} for images or {LABELS_MAGIC} for labels "
            "(bytes 00 00 <type code> <ndim>)"
        )
    ndim = head[3]
    need = 4 + 4 * ndim
    if len(head) < need:
        raise ValueError(f"{path}: truncated IDX header ({len(head)} of {need} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(head[4:need], dtype=">u4"))
    return IDXHeader(IDX_DTYPES[head[2]], shape, need, magic)


def read_idx_header(path: str | os.PathLike) -> IDXHeader:
    """Read and check only the header of the IDX file at `path`."""
    path = Path(path)
    try:
        with _open(path) as f:
            return _read_header(f, path)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: cannot read the IDX file: {err}") from err


def read_idx(
    path: str | os.PathLike,
    *,
    expect_magic: int | None = None,
) -> np.ndarray:
    """Read a whole IDX file into a numpy array (native byte order).

    Args:
        path: the `.gz` or raw IDX file.
        expect_magic: if given, the file's magic number must equal it (2051 images,
            2049 labels); the dtype and rank bytes are checked with it.

    Returns:
        An array of the header's shape and dtype.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: wrong magic, truncated file (or trailing bytes), corrupt gzip stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such IDX file")
    try:
        with _open(path) as f:
            header = _read_header(f, path)
            if expect_magic is not None and header.magic != expect_magic:
                raise ValueError(
                    f"{path}: wrong IDX magic number {header.magic} (0x{header.magic:08x}), expected "
                    f"{expect_magic} (0x{expect_magic:08x}: "
                    f"{'uint8 images, 3 dims' if expect_magic == IMAGES_MAGIC else 'uint8 labels, 1 dim'})"
                )
            check_declared_size(header, path)
            raw = f.read(header.nbytes + 1)  # bounded by the checked size: one byte tells trailing data
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt or truncated file, cannot decompress: {err}") from err
    if len(raw) != header.nbytes:
        problem = "truncated" if len(raw) < header.nbytes else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX file {problem}: header announces shape {header.shape} "
            f"({header.nbytes} bytes of {header.dtype}), found "
            f"{len(raw) if len(raw) < header.nbytes else 'more'} bytes"
        )
    array = np.frombuffer(raw, dtype=header.dtype).reshape(header.shape)
    return array.astype(header.dtype.newbyteorder("="), copy=False)


def iter_idx_chunks(
    path: str | os.PathLike, chunk_size: int = 10_000, *, expect_magic: int | None = None
) -> Iterator[np.ndarray]:
    """Yield an IDX file's first-axis slices of at most `chunk_size` rows, reading as it goes.

    Memory stays O(chunk_size x example size) however big the file, so this is the
    entry point for streaming (see `ddc_tf.data.streaming`). Truncation is detected on
    the chunk where the data run out.
    """
    path = Path(path)
    header = read_idx_header(path)
    if expect_magic is not None and header.magic != expect_magic:
        raise ValueError(
            f"{path}: wrong IDX magic number {header.magic}, expected {expect_magic}"
        )
    check_declared_size(header, path)
    row_shape = header.shape[1:]
    row_bytes = math.prod(row_shape) * header.dtype.itemsize
    n = header.shape[0]
    try:
        with _open(path) as f:
            f.read(header.offset)
            for start in range(0, n, chunk_size):
                rows = min(chunk_size, n - start)
                buf = f.read(rows * row_bytes)
                if len(buf) != rows * row_bytes:
                    raise ValueError(
                        f"{path}: IDX file truncated: header announces {n} rows, data end "
                        f"inside row {start + len(buf) // max(row_bytes, 1)}"
                    )
                chunk = np.frombuffer(buf, dtype=header.dtype).reshape((rows, *row_shape))
                yield chunk.astype(header.dtype.newbyteorder("="), copy=False)
            if f.read(1):
                raise ValueError(f"{path}: IDX file has trailing bytes after {n} rows")
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt or truncated file, cannot decompress: {err}") from err


def find_idx_splits(folder: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Map split name -> `{"images": path, "labels": path}` for the IDX files in `folder`.

    Splits come back ordered: `train`, then `t10k`/`test`, then the others by name.
    A split may lack `labels`; a labels file without its images file is an error.
    """
    folder = Path(folder)
    splits: dict[str, dict[str, Path]] = {}
    for split, what, entry in _idx_files(folder):
        if split in splits and what in splits[split]:
            raise ValueError(
                f"{folder}: two {what} files for split {split!r}: "
                f"{splits[split][what].name} and {entry.name}; keep one"
            )
        splits.setdefault(split, {})[what] = entry
    for split, files in splits.items():
        if "images" not in files:
            raise ValueError(
                f"{files['labels']}: labels without images (no {split}-images-idx3-ubyte[.gz] "
                f"in {folder})"
            )
    order = sorted(splits, key=lambda s: (_SPLIT_ORDER.get(s, 2), s))
    return {s: splits[s] for s in order}


def _idx_files(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """``(split, "images" | "labels", path)`` of every IDX file in ``folder`` named as MNIST's are, by name."""
    for entry in sorted(folder.iterdir()):
        match = _FILE_RE.match(entry.name)
        if match and entry.is_file():
            yield match["split"], match["what"], entry


def images_file_splits(path: Path) -> dict[str, dict[str, Path]]:
    """One IDX images file as :func:`find_idx_splits` gives a split, ``{split: {"images": path,
    "labels": …}}``: its labels are the file of its split in its folder (raw or gzipped; two are
    refused), whatever else the folder holds (a ``gunzip -k`` copy of the images, other splits).
    A ValueError for a file not named like ``train-images-idx3-ubyte[.gz]``."""
    match = _FILE_RE.match(path.name)
    if not match or match["what"] != "images":
        raise ValueError(
            f"{path}: not an IDX images file (expected a name like "
            "train-images-idx3-ubyte[.gz]); pass the folder to load every split"
        )
    split = match["split"]
    labels = [entry for of, what, entry in _idx_files(path.parent) if of == split and what == "labels"]
    if len(labels) > 1:
        raise ValueError(f"{path.parent}: two labels files for split {split!r}: "
                         f"{labels[0].name} and {labels[1].name}; keep one")
    return {split: {"images": path, **({"labels": labels[0]} if labels else {})}}


def is_idx_folder(folder: str | os.PathLike) -> bool:
    """True when `folder` holds at least one `*-images-idx3-ubyte[.gz]` file."""
    folder = Path(folder)
    return folder.is_dir() and any(
        (m := _FILE_RE.match(p.name)) is not None and m["what"] == "images"
        for p in folder.iterdir()
    )


def load_idx_folder(
    path: str | os.PathLike,
    *,
    splits: Sequence[str] | None = None,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
) -> ArrayData:
    """Load and merge the IDX splits of a folder (or one `*-images-idx3-ubyte[.gz]` file).

    Args:
        path: a folder of IDX files, or one images file (its labels file is picked up
            from the same folder when present).
        splits: split names to keep (e.g. `("train",)`); default all, train first.
        name: the `ArrayData.name` (default: the path).
        class_names: names of the label values, e.g. Fashion-MNIST's.

    Returns:
        `ArrayData` with `x` float32 `(n, h, w, 1)` (uint8 scaled by 1/255) and `y` int64
        `(n,)`, or `y=None` when the folder holds no label files at all.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such IDX folder or file")
    if path.is_file():
        found = images_file_splits(path) if splits is None else find_idx_splits(path.parent)
    else:
        found = find_idx_splits(path)
        if not found:
            raise ValueError(
                f"{path}: no IDX files (expected <split>-images-idx3-ubyte[.gz] and "
                "<split>-labels-idx1-ubyte[.gz], e.g. train-images-idx3-ubyte.gz)"
            )
    if splits is not None:
        missing = [s for s in splits if s not in found]
        if missing:
            raise ValueError(f"{path}: no IDX split(s) {missing}; found {list(found)}")
        found = {s: found[s] for s in splits}
    with_labels = [s for s, files in found.items() if "labels" in files]
    if with_labels and len(with_labels) != len(found):
        lacking = [s for s in found if s not in with_labels]
        raise ValueError(
            f"{path}: split(s) {lacking} have images but no labels file while "
            f"{with_labels} have labels; add the labels or pick splits=..."
        )
    images, labels = [], []
    for split, files in found.items():
        x = read_idx(files["images"])
        if x.ndim not in (3, 4):
            raise ValueError(
                f"{files['images']}: IDX images have rank {x.ndim} (shape {x.shape}), "
                "expected 3 (n, h, w) or 4 (n, h, w, c)"
            )
        if images and x.shape[1:] != images[0][0].shape[1:]:
            raise ValueError(
                f"{files['images']}: images of shape {x.shape[1:]} do not match "
                f"{images[0][1].name}'s {images[0][0].shape[1:]}"
            )
        images.append((x, files["images"]))
        if "labels" in files:
            y = read_idx(files["labels"], expect_magic=LABELS_MAGIC)
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{files['labels']}: {y.shape[0]} labels for {x.shape[0]} images in "
                    f"{files['images'].name} (counts must match)"
                )
            labels.append(check_labels(y, x.shape[0], files["labels"]))
    x_raw = images[0][0] if len(images) == 1 else np.concatenate([im for im, _ in images])
    x, raw_dtype, scale = dense_images(x_raw, path)
    y = (labels[0] if len(labels) == 1 else np.concatenate(labels)) if labels else None
    if class_names is not None and y is not None and y.max() >= len(class_names):
        raise ValueError(f"{path}: label {int(y.max())} has no name in {len(class_names)} class names")
    return ArrayData(
        x=x,
        y=y,
        name=name or str(path),
        kind="image",
        raw_dtype=raw_dtype,
        scale=scale,
        class_names=tuple(class_names) if class_names is not None else None,
        image_shape=tuple(int(s) for s in x.shape[1:]),
    )
