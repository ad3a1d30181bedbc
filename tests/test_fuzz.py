"""A seeded fuzz of the loaders and the loss: bad input gets a clear error, never a crash,
a silent wrong result or an allocation beyond twice the file's size.

- Loaders: a few hundred generated ``.npz`` and IDX files (plain and gzip) — zero-size and
  huge dimensions, values beyond float32, NaN/Inf, big integers, uint64 labels, label count
  mismatches, broken CSR arrays, truncated and padded payloads, gzip bombs, text renamed
  ``.npz``. Each load either returns valid ``ArrayData`` (finite float32 ``x``, no empty
  dimension, int64 labels ≥ 0) or raises ValueError / TypeError naming the file; a refused
  file never makes NumPy allocate more than twice its size (``tracemalloc``).
- The loss: ``ddc_loss`` on random batch sizes (0 to 40), widths, dtypes, scales from 1e-30
  to 1e30 and bad weights: a ValueError, or finite terms in their ranges.
"""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from ddc_tf.data import load_arrays
from ddc_tf.data.arrays import ArrayData
from ddc_tf.losses import ddc_loss

SEED = 20261203
LOADER_CASES = 300
LOSS_CASES = 150
#: Allowed allocation beyond 2× the file's size (interpreter and NumPy bookkeeping).
SLACK_BYTES = 1 << 20


def _idx_bytes(rng: np.random.Generator) -> tuple[bytes, str]:
    """An IDX image file: a random header and a payload that may not match it."""
    kind = rng.integers(6)
    ndim = 3
    if kind == 0:
        shape = [int(rng.integers(0, 3)), int(rng.integers(0, 6)), int(rng.integers(0, 6))]  # zero dims
    elif kind == 1:
        shape = [100, 65536, 65536]  # asks for 429 GB
    elif kind == 2:
        shape = [2**32 - 1] * 3  # overflows int64 products
    else:
        shape = [int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 6))]
    header = bytes([0, 0, 0x08, ndim]) + np.asarray(shape, ">u4").tobytes()
    want = int(np.prod(np.asarray(shape, dtype=object))) if all(s < 1000 for s in shape) else 64
    delta = int(rng.choice([0, 0, -1, 1, 7]))
    payload = rng.integers(0, 256, size=max(0, want + delta), dtype=np.uint8).tobytes()
    data = header + payload
    if kind == 5:  # a gzip bomb: a small header, then far more data than it announces
        data = header + bytes(4_000_000)
    return data, f"case-{kind}"


def _npz_bytes(rng: np.random.Generator) -> bytes:
    """A ``.npz`` with random ``x`` (and maybe ``y``), some of them invalid."""
    n = int(rng.integers(0, 6))
    d = int(rng.integers(0, 4))
    choice = rng.integers(12)
    arrays: dict[str, np.ndarray] = {}
    if choice == 0:
        arrays["x"] = rng.normal(size=(n, d)) * 1e300  # beyond float32
    elif choice == 1:
        x = rng.normal(size=(max(n, 1), max(d, 1)))
        x.flat[0] = rng.choice([np.nan, np.inf, -np.inf])
        arrays["x"] = x
    elif choice == 2:
        arrays["x"] = rng.integers(-(2**62), 2**62, size=(n, d), dtype=np.int64)
    elif choice == 3:
        arrays["x"] = rng.normal(size=(n, d)).astype(np.complex64)
    elif choice == 4:
        arrays["x"] = rng.random((n, d)) > 0.5
    elif choice == 5:
        arrays["x"] = rng.normal(size=(max(n, 1), 3)).astype(np.float32)
        arrays["y"] = np.full(max(n, 1), 2**63 + 5, dtype=np.uint64)
    elif choice == 6:
        arrays["x"] = rng.normal(size=(max(n, 1), 3)).astype(np.float32)
        arrays["y"] = np.arange(max(n, 1) + 1)  # one label too many
    elif choice == 7:  # sparse with broken pointers
        m = scipy.sparse.random(max(n, 1), max(d, 1), density=0.5, format="csr", random_state=int(rng.integers(1e6)))
        indptr = m.indptr.copy()
        indptr[-1] += int(rng.integers(-1, 2))
        arrays.update(data=m.data, indices=m.indices, indptr=indptr, shape=np.asarray(m.shape))
    elif choice == 8:  # sparse with zero-size shape
        arrays.update(data=np.zeros(0), indices=np.zeros(0, np.int32), indptr=np.zeros(n + 1, np.int32),
                      shape=np.asarray([n, 0]))
    elif choice == 9:
        arrays["x"] = rng.normal(size=(n, d, int(rng.integers(0, 3)), 1)).astype(np.float32)
    elif choice == 10:
        arrays["x"] = rng.normal(size=(max(n, 1), max(d, 1))).astype(np.float64)  # a valid file
    else:
        arrays["x"] = np.array([["a", "b"]], dtype=object)  # pickled: refused, never unpickled
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    raw = buffer.getvalue()
    if rng.random() < 0.1:
        raw = raw[: int(rng.integers(1, len(raw)))]  # truncated zip
    return raw


def _check_valid(data: ArrayData, where: str) -> None:
    assert isinstance(data, ArrayData), where
    x = data.x.toarray() if scipy.sparse.issparse(data.x) else data.x
    assert x.dtype == np.float32 and x.shape[0] >= 1 and all(s >= 1 for s in x.shape[1:]), (where, x.shape)
    assert np.isfinite(x).all(), f"{where}: non-finite values were loaded"
    if data.y is not None:
        assert data.y.dtype == np.int64 and (data.y >= 0).all(), where


def _files(tmp_path: Path):
    rng = np.random.default_rng(SEED)
    for i in range(LOADER_CASES):
        kind = rng.integers(4)
        if kind == 0:
            path = tmp_path / f"f{i}.npz"
            path.write_bytes(_npz_bytes(rng))
        elif kind == 1:
            path = tmp_path / f"t{i}.npz"
            path.write_text("x,y\n1,2\n")  # a text file renamed .npz
        else:
            folder = tmp_path / f"idx{i}"
            folder.mkdir()
            data, _ = _idx_bytes(rng)
            if kind == 3:
                path = folder / "train-images-idx3-ubyte.gz"
                path.write_bytes(gzip.compress(data, compresslevel=1))
            else:
                path = folder / "train-images-idx3-ubyte"
                path.write_bytes(data)
            path = folder
        yield path


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def test_loaders_refuse_bad_files_clearly_and_cheaply(tmp_path):
    outcomes = {"loaded": 0, "refused": 0}
    tracemalloc.start()
    try:
        for path in _files(tmp_path):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            try:
                data = load_arrays(str(path))
            except (ValueError, TypeError) as error:
                message = str(error)
                assert path.name in message, f"the message does not name the file: {message!r}"
                assert "allow_pickle" not in message, f"numpy's advice leaked out: {message!r}"
                peak = tracemalloc.get_traced_memory()[1] - base
                assert peak <= 2 * _size(path) + SLACK_BYTES, f"{path}: {peak} bytes allocated to refuse it"
                outcomes["refused"] += 1
            else:
                _check_valid(data, str(path))
                outcomes["loaded"] += 1
    finally:
        tracemalloc.stop()
    assert outcomes["loaded"] > 10 and outcomes["refused"] > 100, outcomes


def _loss_case(rng: np.random.Generator):
    m = int(rng.choice([0, 1, 2, 3, int(rng.integers(4, 41))]))
    d, k = int(rng.integers(1, 9)), int(rng.integers(2, 6))
    scale = float(10.0 ** rng.uniform(-30, 30))
    offset = float(rng.choice([0.0, 1e19, -1e25]))
    dtype = rng.choice(["float32", "float64", "bfloat16"])
    hidden = (rng.normal(size=(m, d)) * scale + offset).astype(np.float64)
    logits = rng.normal(size=(m if rng.random() > 0.05 else m + 1, k))
    weights = [1.0, 1.0, 1.0]
    if rng.random() < 0.1:
        weights[int(rng.integers(3))] = float(rng.choice([np.nan, np.inf, -1.0]))
    return hidden, logits, dtype, weights


def test_ddc_loss_is_finite_or_refuses():
    rng = np.random.default_rng(SEED)
    refused = 0
    for _ in range(LOSS_CASES):
        hidden, logits, dtype, weights = _loss_case(rng)
        h = tf.cast(tf.constant(hidden), dtype)
        if not np.isfinite(h.numpy().astype(np.float64)).all():
            continue  # the cast itself overflowed: not a loss input a model can produce
        a = tf.nn.softmax(tf.constant(logits, tf.float32))
        try:
            terms = ddc_loss(h, a, weights=weights)
        except ValueError as error:
            assert any(word in str(error) for word in ("weights", "rows", "empty", "shapes")), str(error)
            refused += 1
            continue
        values = {name: float(value) for name, value in terms.items()}
        assert all(np.isfinite(v) for v in values.values()), (hidden.shape, values)
        for name in ("l1", "l2", "l3"):
            assert -1e-4 <= values[name] <= 1 + 1e-4, (name, values)
    assert refused > 5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_ddc_loss_weights_must_be_finite_and_non_negative(bad):
    with pytest.raises(ValueError, match="weights"):
        ddc_loss(tf.zeros((4, 2)), tf.fill((4, 2), 0.5), weights=(1.0, bad, 1.0))


def test_pickled_npz_is_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as zf:
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        zf.writestr("x.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="evil.npz"):
        load_arrays(str(path))
