"""`load_arrays` and `load`: one entry point for named data sets and bring-your-own paths.

A `source` is either a name of `KNOWN_SOURCES` (matched case-insensitively, `-` read as
`_`, so `"Fashion-MNIST"` works) or a path:
- a `.npz` file (dense `x` or CSR arrays, see `ddc_tf.data.npz`), or a `.npy` of dense inputs
  without labels;
- a `.csv` / `.tsv` table of numeric features, with labels in a header column `y`, `label`,
  `class` or `target` (`ddc_tf.data.table`);
- a folder of IDX files, or one `*-images-idx3-ubyte[.gz]` file (`ddc_tf.data.idx`);
- a folder of images, flat or one sub-folder per class (`ddc_tf.data.images`).
A name wins over a folder of the same name in the working directory; write `./mnist` to
mean the folder. `os.PathLike` sources are always paths.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import tensorflow as tf

from ddc_tf.checks import written_as_path
from ddc_tf.data.arrays import ArrayData, check_n_clusters
from ddc_tf.data.idx import is_idx_folder, load_idx_folder
from ddc_tf.data.images import load_image_folder
from ddc_tf.data.newsgroups import load_20news
from ddc_tf.data.npz import load_npy, load_npz
from ddc_tf.data.pipeline import to_dataset
from ddc_tf.data.reuters import load_reuters, load_reuters10k
from ddc_tf.data.seals import load_seals, load_seals2
from ddc_tf.data.table import is_table_file, load_table
from ddc_tf.data.sklearn_sources import load_circles, load_digits_data
from ddc_tf.data.tfds_sources import load_fashion_mnist, load_mnist

__all__ = ["KNOWN_SOURCES", "load", "load_arrays", "named_loader"]

_LOADERS: dict[str, Callable[..., ArrayData]] = {
    "digits": load_digits_data,
    "circles": load_circles,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "seals": load_seals,
    "seals2": load_seals2,
    "reuters": load_reuters,
    "reuters10k": load_reuters10k,
    "20news": load_20news,
}
KNOWN_SOURCES: tuple[str, ...] = tuple(_LOADERS)


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def named_loader(name: str) -> Callable[..., ArrayData] | None:
    """The loader function of a known data set name, or None."""
    return _LOADERS.get(_normalise(name))


def _call(loader: Callable[..., ArrayData], where: str, *args: Any, **options: Any) -> ArrayData:
    """Call a loader after checking `options` against its signature (clear TypeError)."""
    signature = inspect.signature(loader)
    try:
        signature.bind(*args, **options)
    except TypeError as err:
        accepted = [
            name
            for name, parameter in signature.parameters.items()
            if parameter.kind == inspect.Parameter.KEYWORD_ONLY
        ]
        raise TypeError(
            f"{where}: invalid option(s) {sorted(options)} ({err}); accepted options: "
            f"{accepted or 'none'}"
        ) from None
    return loader(*args, **options)


def takes_options(source: Any, names: Iterable[str]) -> bool:
    """Whether ``load_arrays(source)`` accepts every option in ``names`` (``image_size``,
    ``color``, ``skip_unreadable``): a named source whose loader has them (``seals``), or a
    folder of images (not an IDX folder); a table takes ``label_column``. A known name is the named data set even when a
    folder of that name exists, as in :func:`load_arrays`."""
    if isinstance(source, str) and (loader := named_loader(source)) is not None:
        return set(names) <= set(inspect.signature(loader).parameters)
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source)
    if is_table_file(path):  # a named label column (ddc-tf fit --labels), recorded to read new tables alike
        return set(names) <= {"label_column"}
    return path.is_dir() and not is_idx_folder(path)


def merge_load_options(source: Any, given: Mapping[str, Any] | None,
                       recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options to read ``source`` with, for a model whose training data was read with
    ``recorded`` (``ArrayData.load_options``, kept in ``data.json``): ``recorded``, with each
    option in ``given`` replacing its value — for a source that takes them; ``{}`` for one
    that does not. ``given`` options that ``source`` does not take are a ValueError."""
    given, recorded = dict(given or {}), dict(recorded or {})
    if given and not takes_options(source, given):
        kinds = [kind for kind, names in (("image folders (and seals)", {"image_size", "color", "skip_unreadable"}),
                                          (".csv/.tsv tables", {"label_column"})) if names & set(given)]
        raise ValueError(f"{source}: the option(s) {sorted(given)} are for {' and '.join(kinds) or 'other sources'}; "
                         f"it does not take them")
    return {**recorded, **given} if recorded and takes_options(source, recorded) else given


def load_arrays(
    source: str | os.PathLike, *, n_clusters: int | None = None, **options: Any
) -> ArrayData:
    """Load a data set into memory, validated once.

    Args:
        source: a `KNOWN_SOURCES` name or a path (`.npz`, `.npy`, `.csv`/`.tsv`, IDX folder/file,
            image folder).
        n_clusters: if given, the data must hold at least this many points.
        **options: passed to the source's loader (e.g. `n=`, `seed=` for `circles`,
            `label_key=` for `.npz`, `label_column=` for tables, `image_size=` for image folders, `data_dir=` for
            TFDS). Unknown options are a TypeError listing the accepted ones.

    Returns:
        `ArrayData`.

    Raises:
        ValueError: unknown name (lists the known ones), bad content, too few points.
        FileNotFoundError: a path that does not exist.

    Example:
        >>> data = load_arrays("digits", n_clusters=10)
        >>> data.x.shape, data.n_classes
        ((1797, 64), 10)
    """
    if isinstance(source, str) and not source.strip():
        raise ValueError("no data source given (an empty name); give a data set name or a path")
    if isinstance(source, str) and (loader := named_loader(source)) is not None:
        data = _call(loader, source, **options)
    else:
        path = Path(source)
        if not path.exists():
            if isinstance(source, str) and not written_as_path(source):
                raise ValueError(
                    f"unknown data set {source!r}: known names are {', '.join(KNOWN_SOURCES)}; "
                    "or pass a path to an .npz, .npy or .csv file, an IDX folder or an image folder"
                )
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            if path.suffix.lower() == ".npz":
                data = _call(load_npz, str(path), path, **options)
            elif path.suffix.lower() == ".npy":
                data = _call(load_npy, str(path), path, **options)
            elif is_table_file(path):
                data = _call(load_table, str(path), path, **options)
            elif "idx" in path.name and "images" in path.name:
                data = _call(load_idx_folder, str(path), path, **options)
            else:
                raise ValueError(
                    f"{path}: unsupported file type; expected an .npz archive, a .npy array, a .csv or .tsv "
                    "table, an IDX images file (*-images-idx3-ubyte[.gz]) or a folder"
                )
        elif is_idx_folder(path):
            data = _call(load_idx_folder, str(path), path, **options)
        else:
            data = _call(load_image_folder, str(path), path, **options)
    check_n_clusters(data, n_clusters)
    return data


def load(
    source: str | os.PathLike,
    *,
    batch_size: int = 100,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
    with_labels: bool = True,
    repeat: bool = False,
    n_clusters: int | None = None,
    **options: Any,
) -> tuple[tf.data.Dataset, ArrayData]:
    """`load_arrays` then `to_dataset`: the pipeline and the arrays behind it.

    Arguments are those of `to_dataset` and `load_arrays`. `seed` seeds the shuffle, and
    is also passed to a named loader that takes a seed (`circles`, `seals`, `reuters`)
    so one seed fixes everything.

    Returns:
        `(dataset, data)`: the `tf.data.Dataset` and the `ArrayData` it reads.

    Example:
        >>> ds, data = load("fashion_mnist", batch_size=100, n_clusters=10)
        >>> model.fit(ds, epochs=10)
    """
    if isinstance(source, str) and not source.strip():
        raise ValueError("no data source given (an empty name); give a data set name or a path")
    if isinstance(source, str) and (loader := named_loader(source)) is not None:
        if "seed" in inspect.signature(loader).parameters:
            options["seed"] = seed
    data = load_arrays(source, n_clusters=n_clusters, **options)
    dataset = to_dataset(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
        with_labels=with_labels,
        repeat=repeat,
    )
    return dataset, data
