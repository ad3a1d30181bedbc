"""Data sets that ship with scikit-learn: `digits` (real, offline) and `circles` (synthetic)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits, make_circles

from ddc_tf.checks import is_positive_int
from ddc_tf.data.arrays import ArrayData

__all__ = ["DIGITS_SCALE", "load_circles", "load_digits_data"]

DIGITS_SCALE = 1 / 16  # digits pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap)


def load_digits_data() -> ArrayData:
    """scikit-learn's handwritten digits: 1 797 images of 8x8, 10 classes.

    Returns:
        `ArrayData` of kind `"vector"`: `x` float32 `(1797, 64)` in [0, 1] (raw 0..16
        divided by 16), `y` int64 `(1797,)`, `image_shape=(8, 8)` for plotting.
    """
    bunch = load_digits()
    x = (bunch.data * DIGITS_SCALE).astype(np.float32)
    return ArrayData(
        x=x,
        y=bunch.target.astype(np.int64),
        name="digits",
        kind="vector",
        raw_dtype="float32",
        scale=DIGITS_SCALE,
        class_names=tuple(str(c) for c in bunch.target_names),
        image_shape=(8, 8),
    )


def load_circles(
    *, n: int = 1000, noise: float = 0.05, factor: float = 0.3, seed: int = 0
) -> ArrayData:
    """A small circle inside a ring (the paper's Fig. 3: k-means fails, DDC succeeds).

    Wraps `sklearn.datasets.make_circles`; deterministic given `seed`.

    Args:
        n: number of points (split evenly between the two classes).
        noise: standard deviation of the Gaussian noise added to the points.
        factor: radius of the inner circle relative to the outer ring (0 < factor < 1).
        seed: random seed.

    Returns:
        `ArrayData` of kind `"vector"`: `x` float32 `(n, 2)`, `y` int64 `(n,)` with
        0 = outer ring, 1 = inner circle.
    """
    if not is_positive_int(n) or n < 2:
        raise ValueError(f"circles: n must be an integer >= 2, got {n!r}")
    for label, value in (("factor", factor), ("noise", noise)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise ValueError(f"circles: {label} must be a number, got {value!r}")
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be in (0, 1), got {factor}")
    if not 0 <= noise < float("inf"):
        raise ValueError(f"circles: noise must be a finite number >= 0, got {noise}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"circles: seed must be an integer, got {seed!r}")
    x, y = make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return ArrayData(
        x=x.astype(np.float32),
        y=y.astype(np.int64),
        name="circles",
        kind="vector",
        raw_dtype="float32",
        scale=1.0,
        class_names=("ring", "circle"),
    )
