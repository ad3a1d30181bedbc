"""Argument checks and error summaries shared across the package (a leaf: imports NumPy only)."""

from __future__ import annotations

from typing import Any

import math
import os
import re
from pathlib import Path

import numpy as np

__all__ = [
    "counted", "error_summary", "is_positive_int", "loss_weights", "non_negative_int", "non_negative_number",
    "positive_int", "positive_number", "random_seed", "written_as_path", "MAX_SEED",
]

#: Keras' random seeds (``keras.utils.set_random_seed``) are 32-bit.
MAX_SEED = 2**32 - 1


def counted(count: int, noun: str) -> str:
    """``"1 cell"``, ``"3 cells"``: a count and its noun, plural unless the count is 1."""
    count = int(count)
    return f"{count} {noun}{'' if count == 1 else 's'}"


def is_positive_int(value: Any) -> bool:
    """True for a Python or NumPy integer ≥ 1 (not a bool, not a float such as 2.0)."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def positive_int(value: Any, name: str, why: str = "") -> int:
    """``value`` as an ``int`` if it is an integer ≥ 1, else a ValueError naming ``name``
    (and ``why``, e.g. ``" (TF Serving loads integer version folders)"``)."""
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive integer{why}, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str, why: str = "") -> int:
    """``value`` as an ``int`` if it is a Python or NumPy integer ≥ 0 (not a bool), else a
    ValueError naming ``name`` (and ``why``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0{why}, got {value!r}")
    return int(value)


def random_seed(value: Any, name: str = "seed", count: int = 1, why: str = "") -> int:
    """``value`` as an ``int`` if it is an integer ≥ 0 whose ``count`` consecutive seeds
    (``value … value + count − 1``, one per run) are all at most :data:`MAX_SEED`, else a
    ValueError naming ``name`` (and ``why``, as :func:`non_negative_int`)."""
    value = non_negative_int(value, name, why)
    if value + count - 1 > MAX_SEED:
        runs = f" and the next {count - 1} (one per run)" if count > 1 else ""
        raise ValueError(f"{name}={value}{runs} must be at most 2**32 − 1 = {MAX_SEED}: random seeds are 32-bit")
    return value


def non_negative_number(value: Any, name: str) -> float:
    """``value`` as a ``float`` if it is a finite number ≥ 0 (not a bool), else a ValueError
    naming ``name``."""
    if not _is_real(value) or not (_finite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _finite(value: Any) -> bool:
    """``math.isfinite``, False for an integer too large for a float (``10**400``), which it raises on."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_whole_number(value: Any) -> bool:
    """True for a finite real number with no fractional part (``2``, ``np.int64(2)``, ``2.0``), not
    a bool, a string or ``2.5``."""
    return _is_real(value) and _finite(value) and value == int(value)


def positive_number(value: Any, name: str) -> float:
    """``value`` as a ``float`` if it is a finite number > 0 (not a bool, not a string), else a
    ValueError naming ``name``."""
    if not _is_real(value) or not (_finite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def loss_weights(value: Any, name: str = "loss_weights") -> tuple[float, float, float]:
    """The DDC loss weights ``(w1, w2, w3)``: three finite numbers ≥ 0, not all 0, else a
    ValueError naming ``name``."""
    items = tuple(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if (items is None or len(items) != 3 or not all(_is_real(w) and _finite(w) and w >= 0 for w in items)
            or not any(items)):
        raise ValueError(f"{name} must be three finite non-negative numbers, not all 0, got {value!r}")
    return tuple(float(w) for w in items)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_summary(error: Exception) -> str:
    """One line of a (Keras) exception: its first line that says what went wrong, without the
    terminal colour codes and the "Exception encountered when calling …" / "Arguments received"
    frames Keras wraps it in."""
    lines = [line.strip() for line in _ANSI.sub("", str(error)).splitlines()]
    useful = [line for line in lines if line and not line.startswith(("Exception encountered", "Arguments received", "•"))]
    summary = useful[0] if useful else type(error).__name__
    return summary if len(summary) <= 200 else summary[:197] + "..."


def written_as_path(source: str) -> bool:
    """Whether a data source given as text is written as a path — a folder separator or a file
    ending — rather than as a data set name (``digits``, ``fashion-mnist``)."""
    return any(sep in source for sep in (os.sep, os.altsep) if sep) or bool(Path(source).suffix)
