"""Helpers that write small data files for the `ddc_tf.data` tests (into tmp_path)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise `array` in the IDX format (big-endian)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = array.astype(array.dtype.newbyteorder(">"))
    code = IDX_CODES[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False, cut: int = 0) -> Path:
    """Write `array` as an IDX file (gzip-compressed if `gz`), dropping the last `cut` bytes."""
    payload = idx_bytes(array)
    if cut:
        payload = payload[:-cut]
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_mnist_folder(
    folder: Path,
    *,
    n_train: int = 30,
    n_test: int = 10,
    shape: tuple[int, int] = (28, 28),
    gz: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write MNIST-style train and t10k IDX files; return the uint8 images and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_train + n_test, *shape), dtype=np.uint8)
    y = (np.arange(n_train + n_test) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    for split, sl in (("train", slice(0, n_train)), ("t10k", slice(n_train, None))):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", x[sl], gz=gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", y[sl], gz=gz)
    return x, y


def write_image_folder(
    folder: Path,
    counts: dict[str, int] | int,
    *,
    size: tuple[int, int] = (64, 64),
    mode: str = "RGB",
    seed: int = 0,
    ext: str = ".png",
) -> dict[str, np.ndarray]:
    """Write random images: `counts` per class sub-folder (dict) or a flat folder (int).

    Returns the uint8 arrays written, per class ("" for a flat folder), in file-name order.
    """
    rng = np.random.default_rng(seed)
    layout = {"": counts} if isinstance(counts, int) else counts
    written = {}
    for cls, count in layout.items():
        target = folder / cls if cls else folder
        target.mkdir(parents=True, exist_ok=True)
        shape = (*size, 3) if mode == "RGB" else size
        arrays = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
        for i, a in enumerate(arrays):
            Image.fromarray(a).save(target / f"img_{i:04d}{ext}")
        written[cls] = arrays
    return written
