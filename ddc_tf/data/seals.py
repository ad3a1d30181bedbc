"""`seals` and `seals2`: folders of seal image crops, one sub-folder per class.

The paper's SEALS data (harp seal, hooded seal and background crops of 64x64 pixels from
aerial images) is not public; these loaders work on any folder laid out the same way:
`<folder>/<class name>/*.png`. Crops are resized to 28x28 (as in the paper), RGB kept,
and classes are balanced to the smallest one with a seeded choice. `seals2` drops the
class named `background` (the two-class task of the paper).

The folder is `path=`, or `seals/` under `$DDC_TF_DATA_DIR` or the shared data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from ddc_tf.data.arrays import ArrayData
from ddc_tf.data.images import load_image_folder
from ddc_tf.data.paths import DATA_DIR_ENV, find_data_path

__all__ = ["SEALS_IMAGE_SIZE", "load_seals", "load_seals2"]

SEALS_IMAGE_SIZE = (28, 28)


def _seals_folder(name: str, path: str | os.PathLike | None) -> Path:
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{name}: {folder}: no such folder of seal crops")
        return folder
    found, searched = find_data_path(["seals"])
    if found is None:
        raise FileNotFoundError(
            f"{name}: the SEALS crops are not public and were not found (looked in "
            f"{', '.join(str(p) for p in searched)}). Pass path=<folder with one sub-folder "
            f"per class> (command line: --data <folder>) or set {DATA_DIR_ENV}"
        )
    return found


def _load(
    name: str,
    path: str | os.PathLike | None,
    drop_class: str | None,
    image_size: int | tuple[int, int],
    color: str | None,
    balance: bool,
    per_class: int | None,
    seed: int,
    skip_unreadable: bool,
) -> ArrayData:
    folder = _seals_folder(name, path)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{name}: {folder} has no class sub-folders (expected <folder>/<class>/*.png)")
    drop: tuple[str, ...] = ()
    if drop_class is not None:
        drop = tuple(c for c in classes if c.lower() == drop_class.lower())
        if not drop:
            raise ValueError(
                f"{name}: {folder} has no class folder {drop_class!r} to drop; classes are {classes}"
            )
    return load_image_folder(
        folder,
        image_size=image_size,
        color=color,
        balance=balance,
        per_class=per_class,
        seed=seed,
        drop_classes=drop,
        skip_unreadable=skip_unreadable,
        name=name,
    )


def load_seals(
    *,
    path: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] = SEALS_IMAGE_SIZE,
    color: str | None = "rgb",
    balance: bool = True,
    per_class: int | None = None,
    seed: int = 0,
    skip_unreadable: bool = False,
    drop_class: str | None = None,
) -> ArrayData:
    """Load a folder of crops with one sub-folder per class (harp, hooded, background, ...).

    Args:
        path: the folder (default: `seals/` in the data folders).
        image_size: `(height, width)` the crops are resized to (28x28 in the paper).
        color: `"rgb"` (default, colour kept), `"grayscale"` or None (keep as stored).
        balance: keep `per_class` crops of every class (default: the smallest class).
        per_class: crops per class when balancing.
        seed: seed of the balancing choice.
        skip_unreadable: drop crops that fail to decode (warning with the count).
        drop_class: a class to leave out, matched case-insensitively (must exist).

    Returns:
        `ArrayData` of kind `"image"`: `x` float32 `(n, h, w, c)` in [0, 1] — `(n, 28, 28, 3)` at the
        default `image_size` and `color` —, `y` int64,
        `class_names` the sub-folder names (sorted).
    """
    return _load("seals", path, drop_class, image_size, color, balance, per_class, seed, skip_unreadable)


def load_seals2(
    *,
    path: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] = SEALS_IMAGE_SIZE,
    color: str | None = "rgb",
    balance: bool = True,
    per_class: int | None = None,
    seed: int = 0,
    skip_unreadable: bool = False,
    drop_class: str = "background",
) -> ArrayData:
    """SEALS without the background class (the paper's SEALS-2). Arguments as `load_seals`."""
    return _load("seals2", path, drop_class, image_size, color, balance, per_class, seed, skip_unreadable)
