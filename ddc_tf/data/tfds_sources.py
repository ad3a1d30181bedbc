"""`mnist` and `fashion_mnist`: local IDX files first, TensorFlow Datasets otherwise.

Resolution order (`backend="auto"`):
1. `path=` (a folder of the four IDX files, gz or raw);
2. `$DDC_TF_DATA_DIR/<name>` or the shared data folder (`mnist/`, `fashion_mnist/` or
   `fashion-mnist/`), then the system folder (`/usr/share/datasets/fashion-mnist`, where
   Debian's `dataset-fashion-mnist` installs the files);
3. TensorFlow Datasets (`tfds.load(name, split="train+test", data_dir=data_dir)`). When
   the data set is not already prepared in `data_dir` and the download host cannot be
   reached, this fails at once with a clear error instead of TFDS's minutes of retries.

Both data sets: 70 000 images 28x28x1 (train then test, merged for clustering), uint8
scaled by 1/255, 10 classes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import warnings
from pathlib import Path

import numpy as np

from ddc_tf.checks import error_summary
from ddc_tf.data.arrays import ArrayData, check_labels, dense_images
from ddc_tf.data.idx import is_idx_folder, load_idx_folder
from ddc_tf.data.paths import DATA_DIR_ENV, find_data_path

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "SYSTEM_DIRS",
    "load_fashion_mnist",
    "load_mnist",
    "load_tfds_images",
    "network_available",
]

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SYSTEM_DIRS = {
    "mnist": ("/usr/share/datasets/mnist",),
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
}
_LOCAL_NAMES = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist", "fashion-mnist")}
_CLASSES = {"mnist": MNIST_CLASSES, "fashion_mnist": FASHION_MNIST_CLASSES}
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_BACKENDS = ("auto", "idx", "tfds")


def network_available(host: tuple[str, int] = _DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """True when a TCP connection to `host` opens within `timeout` seconds."""
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def import_tfds(name: str):
    """``tensorflow_datasets``, or an OSError saying why it cannot be used and what to do.

    TFDS imports its parts lazily, so a broken install (say, a ``tensorflow-metadata`` built for
    a newer protobuf than TensorFlow allows) would only fail later, as an AttributeError on
    ``tfds.builder``; importing ``tensorflow_datasets.core`` here gives the reason instead.
    """
    try:
        import tensorflow_datasets as tfds
        import tensorflow_datasets.core  # noqa: F401
    except Exception as error:  # ImportError, protobuf's VersionError, ...
        raise OSError(
            f"{name}: TensorFlow Datasets cannot be used here ({type(error).__name__}: "
            f"{error_summary(error)}); install a tensorflow-datasets (and tensorflow-metadata) that "
            f"matches this TensorFlow, or give a folder of IDX files (command line: --data <folder>)"
        ) from error
    return tfds


@contextlib.contextmanager
def _without_unprepared_folder_notice():
    """Drop TFDS's ``WARNING:absl:Variant folder … has no dataset_info.json`` while a builder is
    made: an unprepared folder (left by an earlier failed download) is what the error below
    names, with what to do, so the notice only repeated it."""
    logger = logging.getLogger("absl")

    def keep(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Variant folder" in message and "dataset_info.json" in message)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def load_tfds_images(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    split: str = "train+test",
    download: bool = True,
    class_names: tuple[str, ...] | None = None,
) -> ArrayData:
    """Load an image classification data set from TensorFlow Datasets into memory.

    Args:
        name: the TFDS name (`"mnist"`, `"fashion_mnist"`, ...).
        data_dir: TFDS data folder (default TFDS's, `~/tensorflow_datasets`).
        split: TFDS split expression; `"train+test"` merges both, train first.
        download: allow TFDS to download and prepare the data set when missing.
        class_names: label names (default: from the TFDS metadata).

    Returns:
        `ArrayData` of kind `"image"`, `x` float32 `(n, h, w, c)` in [0, 1], `y` int64.

    Raises:
        FileNotFoundError: not prepared in `data_dir` and no download possible.
    """
    tfds = import_tfds(name)
    with _without_unprepared_folder_notice():
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared()
    if not prepared:
        where = f"{builder.data_dir}"
        if not download:
            raise FileNotFoundError(
                f"{name}: not prepared in TFDS data_dir {where} and download=False"
            )
        if not network_available():
            raise FileNotFoundError(
                f"{name}: not prepared in TFDS data_dir {where} and the download host "
                f"{_DOWNLOAD_HOST[0]} cannot be reached (offline?). Pass path=<folder of IDX "
                f"files> (command line: --data <folder>), set {DATA_DIR_ENV}, or prepare it with TFDS on a connected machine"
            )
    ds = tfds.load(name, split=split, data_dir=data_dir, as_supervised=True, download=download)
    xs, ys = [], []
    for x, y in tfds.as_numpy(ds.batch(10_000)):
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError(f"{name}: TFDS split {split!r} is empty")
    where = f"tfds:{name}[{split}]"
    x, raw_dtype, scale = dense_images(np.concatenate(xs), where)
    y = check_labels(np.concatenate(ys), x.shape[0], where)
    if class_names is None:
        label = builder.info.features["label"]
        class_names = tuple(label.names) if hasattr(label, "names") else None
    return ArrayData(
        x=x,
        y=y,
        name=name,
        kind="image",
        raw_dtype=raw_dtype,
        scale=scale,
        class_names=class_names,
        image_shape=tuple(int(s) for s in x.shape[1:]),
    )


def _load_mnist_like(
    name: str,
    path: str | os.PathLike | None,
    backend: str,
    data_dir: str | os.PathLike | None,
    download: bool,
) -> ArrayData:
    if backend not in _BACKENDS:
        raise ValueError(f"{name}: backend must be one of {_BACKENDS}, got {backend!r}")
    classes = _CLASSES[name]
    if path is not None:
        if backend == "tfds":
            raise ValueError(f"{name}: path= reads IDX files; it cannot be used with backend='tfds'")
        return load_idx_folder(path, name=name, class_names=classes)
    searched: list[Path] = []
    if backend in ("auto", "idx"):
        _, searched = find_data_path(_LOCAL_NAMES[name], SYSTEM_DIRS[name])
        for candidate in searched:
            if is_idx_folder(candidate):
                return load_idx_folder(candidate, name=name, class_names=classes)
        unread = [str(p) for p in searched if p.is_dir() and not _is_tfds_folder(p)]
        if unread and backend == "auto":  # a folder meant for the data, without its files: not passed over silently
            warnings.warn(f"{name}: {', '.join(unread)} exists but holds no IDX files (train-images-idx3-ubyte[.gz], "
                          "...); reading the data through TFDS instead", stacklevel=3)
        if backend == "idx":
            raise FileNotFoundError(
                f"{name}: no folder of IDX files found; looked in "
                f"{', '.join(str(p) for p in searched)}. Pass path=<folder> (command line: --data <folder>) or set {DATA_DIR_ENV}"
            )
    return load_tfds_images(name, data_dir=data_dir, download=download, class_names=classes)


def _is_tfds_folder(folder: Path) -> bool:
    """Whether ``folder`` is a TFDS data set's own (``mnist/3.0.1/``: version folders), as in a TFDS
    ``data_dir`` that is also the data folder."""
    return any(child.is_dir() and re.fullmatch(r"\d+\.\d+\.\d+", child.name) for child in folder.iterdir())


def load_mnist(
    *,
    path: str | os.PathLike | None = None,
    backend: str = "auto",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> ArrayData:
    """MNIST handwritten digits, 70 000 images 28x28x1, train+test merged.

    Args:
        path: a folder of the four MNIST IDX files (gz or raw).
        backend: `"auto"` (local IDX files, then TFDS), `"idx"` or `"tfds"`.
        data_dir: TFDS data folder.
        download: let TFDS download when the data set is not prepared.

    Returns:
        `ArrayData` of kind `"image"`: `x` float32 `(70000, 28, 28, 1)`, `y` int64.
    """
    return _load_mnist_like("mnist", path, backend, data_dir, download)


def load_fashion_mnist(
    *,
    path: str | os.PathLike | None = None,
    backend: str = "auto",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> ArrayData:
    """Fashion-MNIST, 70 000 images 28x28x1 of 10 clothing classes, train+test merged.

    Found without options where Debian's `dataset-fashion-mnist` is installed
    (`/usr/share/datasets/fashion-mnist`). Arguments as `load_mnist`.
    """
    return _load_mnist_like("fashion_mnist", path, backend, data_dir, download)
