"""Folders of image files (PNG, JPEG, ...), flat or with one sub-folder per class.

Layouts:
- flat: `folder/*.png` -> unlabelled images (`y=None`);
- per class: `folder/<class name>/*.png` -> labels `0 .. k-1` in sorted class-name order,
  `class_names` the folder names.
A folder mixing image files and class sub-folders is refused (ambiguous). Hidden entries
(names starting with `.`) are ignored; other files without an image extension are ignored
with a warning that counts them. An image that fails to decode is an error naming the
file, unless `skip_unreadable=True`, which drops it and warns with the count.

Images are decoded with Pillow, converted to 8-bit grayscale (1 channel) or RGB
(3 channels; alpha is dropped), optionally resized (bilinear, antialiased when shrinking)
and scaled to [0, 1] float32 `(n, h, w, c)`.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageOps

from ddc_tf.checks import is_positive_int
from ddc_tf.data.arrays import ArrayData, balance_classes, dense_images
from ddc_tf.options import IMAGE_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "decode_image", "list_image_folder", "load_image_folder"]

_GRAY_MODES = ("1", "L", "LA")
_COLOR_MODES = ("P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


class _Unreadable(Exception):
    """An image file that could not be decoded (carries the path and the reason)."""


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` but hidden ones; a ValueError naming broken symbolic links that
    would be an image or a class folder (an image name, or no suffix): neither file nor folder,
    they would be left out unseen. Others are passed over as any non-image file is."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    broken = [p.name for p in entries if p.is_symlink() and not p.exists() and (_is_image(p) or not p.suffix)]
    if broken:
        one = len(broken) == 1
        raise ValueError(f"{folder}: {', '.join(map(repr, broken[:5]))}{' …' if len(broken) > 5 else ''} "
                         f"{'is a symbolic link' if one else f'({len(broken)}) are symbolic links'} "
                         f"to nothing; repair or remove {'it' if one else 'them'}")
    return entries


def list_image_folder(
    path: str | os.PathLike,
) -> tuple[list[Path], np.ndarray | None, tuple[str, ...] | None, int]:
    """List the image files of a flat or per-class folder, without decoding them.

    Returns:
        `(files, y, class_names, n_ignored)`: the image paths (sorted by class, then name),
        their int64 labels `(n,)` (None for a flat folder), the class names (sorted folder
        names, or None) and the number of non-image files ignored.

    Raises:
        FileNotFoundError: missing folder.
        ValueError: mixed layout, nested folders, empty folder or empty class folder.
    """
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such image folder")
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder (expected a folder of images)")
    entries = _visible(folder)
    dirs = [p for p in entries if p.is_dir()]
    files = [p for p in entries if p.is_file()]
    images = [p for p in files if _is_image(p)]
    if dirs and images:
        raise ValueError(
            f"{folder}: holds both image files ({len(images)}) and sub-folders "
            f"({', '.join(d.name for d in dirs[:5])}); use one image per file in a flat folder "
            "or one sub-folder per class"
        )
    if not dirs:
        if not images:
            raise ValueError(
                f"{folder}: no image files (extensions {', '.join(IMAGE_EXTENSIONS)})"
            )
        return images, None, None, len(files) - len(images)
    all_files: list[Path] = []
    labels: list[np.ndarray] = []
    n_ignored = len(files)
    for label, class_dir in enumerate(dirs):
        inside = _visible(class_dir)
        nested = [p for p in inside if p.is_dir()]
        if nested:
            raise ValueError(
                f"{class_dir}: class folder holds sub-folder(s) {[p.name for p in nested[:5]]}; "
                "expected image files only"
            )
        class_images = [p for p in inside if _is_image(p)]
        if not class_images:
            raise ValueError(f"{class_dir}: empty class folder (no image files)")
        n_ignored += len(inside) - len(class_images)
        all_files.extend(class_images)
        labels.append(np.full(len(class_images), label, dtype=np.int64))
    return all_files, np.concatenate(labels), tuple(d.name for d in dirs), n_ignored


def decode_image(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None, color: str | None = None
) -> np.ndarray:
    """Decode one image file to uint8 `(h, w, c)`, c = 1 (grayscale) or 3 (RGB).

    Args:
        path: the image file.
        image_size: `(height, width)` to resize to, or None to keep the size.
        color: `"rgb"`, `"grayscale"`, or None to keep grayscale images grayscale and
            turn everything else into RGB.

    Raises:
        ValueError: the file cannot be decoded, or has a 16-bit/float mode.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
            # an animation or a multi-page TIFF: which frame is the image is the user's call; a camera JPEG
            # with a preview (MPO) is one photo, its first frame
            if frames > 1 and img.format != "MPO":
                raise ValueError(f"{path}: holds {frames} frames (an animation or a multi-page file); one image "
                                 "per file is read: save the frame you mean as its own file")
            img.load()
            mode = img.mode
            if mode not in _GRAY_MODES and mode not in _COLOR_MODES:
                raise ValueError(
                    f"{path}: image mode {mode!r} is not supported (16-bit, float and premultiplied modes are not); "
                    "convert it to 8-bit grayscale or RGB"
                )
            img = ImageOps.exif_transpose(img)  # as viewers show it: phone photos store their rotation in EXIF
            target = {"rgb": "RGB", "grayscale": "L"}.get(color or "", None)
            if target is None:
                target = "L" if mode in _GRAY_MODES else "RGB"
            out = img.convert(target)
            if image_size is not None and out.size != (image_size[1], image_size[0]):
                out = out.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(out, dtype=np.uint8)
    except ValueError:
        raise
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path}: cannot decode image: {err}") from err
    return array[..., np.newaxis] if array.ndim == 2 else array


def _decode_or_none(args: tuple[Path, tuple[int, int] | None, str | None]) -> np.ndarray | str:
    try:
        return decode_image(*args)
    except ValueError as err:
        return str(err)


def load_image_folder(
    path: str | os.PathLike,
    *,
    image_size: int | Sequence[int] | None = None,
    color: str | None = None,
    balance: bool = False,
    per_class: int | None = None,
    seed: int = 0,
    drop_classes: Sequence[str] = (),
    skip_unreadable: bool = False,
    name: str | None = None,
) -> ArrayData:
    """Load a folder of images (flat, or one sub-folder per class) into memory.

    Args:
        path: the folder.
        image_size: `(height, width)` (or one int for squares) to resize every image to;
            None requires all images to share one size.
        color: `"rgb"`, `"grayscale"`, or None (grayscale if every image is grayscale,
            otherwise RGB).
        balance: keep the same number of images in every class (`per_class`, default the
            smallest class), chosen with `np.random.default_rng(seed)`.
        per_class: images per class when balancing.
        seed: seed of the balancing choice.
        drop_classes: class folder names to leave out (each must exist), e.g.
            `("background",)`. Labels are renumbered over the classes kept.
        skip_unreadable: drop images that fail to decode (with a warning giving the count)
            instead of raising.
        name: the `ArrayData.name` (default: the path).

    Returns:
        `ArrayData` of kind `"image"`: `x` float32 `(n, h, w, c)` in [0, 1], raw uint8,
        `y` int64 `(n,)` for per-class folders (None for flat ones).
    """
    folder = Path(path)
    if color not in (None, "rgb", "grayscale"):
        raise ValueError(f"color must be 'rgb', 'grayscale' or None, got {color!r}")
    size = _as_size(image_size)
    files, y, class_names, n_ignored = list_image_folder(folder)
    if n_ignored:
        warnings.warn(f"{folder}: ignored {n_ignored} file(s) without an image extension", stacklevel=2)
    if drop_classes:
        if class_names is None:
            raise ValueError(
                f"{folder}: drop_classes={list(drop_classes)} but the folder has no class sub-folders"
            )
        unknown = [c for c in drop_classes if c not in class_names]
        if unknown:
            raise ValueError(
                f"{folder}: no class folder(s) {unknown} to drop; classes are {list(class_names)}"
            )
        kept = [c for c in class_names if c not in drop_classes]
        if not kept:
            raise ValueError(f"{folder}: dropping {list(drop_classes)} leaves no class")
        keep_label = np.array([c not in drop_classes for c in class_names])
        new_label = np.cumsum(keep_label) - 1
        mask = keep_label[y]
        files = [f for f, m in zip(files, mask) if m]
        y = new_label[y[mask]].astype(np.int64)
        class_names = tuple(kept)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(_decode_or_none, [(f, size, color) for f in files], chunksize=64))
    failed = np.array([isinstance(d, str) for d in decoded])
    if failed.any():
        messages = [d for d in decoded if isinstance(d, str)]
        if not skip_unreadable:
            more = f" (and {len(messages) - 1} more unreadable image(s))" if len(messages) > 1 else ""
            raise ValueError(
                f"{messages[0]}{more}; pass skip_unreadable=True (on the command line: --skip-unreadable) to drop unreadable images"
            )
        warnings.warn(
            f"{folder}: skipped {len(messages)} unreadable image(s) of {len(files)}; first: {messages[0]}",
            stacklevel=2,
        )
        files = [f for f, bad in zip(files, failed) if not bad]
        decoded = [d for d in decoded if not isinstance(d, str)]
        if y is not None:
            y = y[~failed]
            empty = [c for i, c in enumerate(class_names) if not np.any(y == i)]
            if empty:
                raise ValueError(f"{folder}: class(es) {empty} have no readable image left")
        if not decoded:
            raise ValueError(f"{folder}: no readable image left")
    shapes = {}
    for f, d in zip(files, decoded):
        shapes.setdefault(d.shape[:2], f)
    if len(shapes) > 1:
        listing = ", ".join(f"{h}x{w} ({p.name})" for (h, w), p in list(shapes.items())[:4])
        raise ValueError(
            f"{folder}: images have {len(shapes)} different sizes ({listing}); resize them with "
            "--image-size H W (image_size=(height, width) in Python)"
        )
    channels = {d.shape[2] for d in decoded}
    if len(channels) > 1:  # some grayscale, some colour: grayscale -> RGB loses nothing
        decoded = [np.repeat(d, 3, axis=2) if d.shape[2] == 1 else d for d in decoded]
    raw = np.stack(decoded)
    if balance:
        if y is None:
            raise ValueError(f"{folder}: balance=True needs one sub-folder per class")
        keep = balance_classes(y, per_class, seed, where=str(folder))
        raw, y, files = raw[keep], y[keep], [files[i] for i in keep]
    elif per_class is not None:
        raise ValueError("per_class is only used with balance=True")
    x, raw_dtype, scale = dense_images(raw, folder)
    return ArrayData(
        x=x,
        y=y,
        name=name or str(folder),
        kind="image",
        raw_dtype=raw_dtype,
        scale=scale,
        class_names=class_names,
        image_shape=tuple(int(s) for s in x.shape[1:]),
        load_options=_image_options(size, x.shape[-1]),
        row_names=tuple(f.relative_to(folder).as_posix() for f in files),
    )


def _image_options(size: tuple[int, int] | None, channels: int) -> dict[str, Any]:
    """How :func:`load_image_folder` shaped the images, for ``ArrayData.load_options``: the
    colour it settled on (given, or found: grayscale only if every image was), and the size
    when one was given (images of the size training found are not resized later either)."""
    options: dict[str, Any] = {"color": "rgb" if channels == 3 else "grayscale"}
    if size is not None:
        options["image_size"] = list(size)
    return options


def _as_size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    message = f"image_size must be a positive int or (height, width) of positive ints, got {image_size!r}"
    if is_positive_int(image_size):
        return (int(image_size), int(image_size))
    if isinstance(image_size, (str, bytes)) or not isinstance(image_size, Sequence):
        raise ValueError(message)  # also True/False and floats such as 1.5
    if len(image_size) != 2 or not all(is_positive_int(s) for s in image_size):
        raise ValueError(message)
    return (int(image_size[0]), int(image_size[1]))
