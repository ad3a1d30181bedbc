"""`reuters` and `reuters10k`: RCV1 through `sklearn.datasets.fetch_rcv1`, DEC's protocol.

Protocol (DEC, Xie et al. 2016, followed by the DDC paper):
1. keep the stories labelled with exactly one of the 4 root categories CCAT, ECAT, GCAT,
   MCAT (label = that root, in this order);
2. keep the 2 000 most frequent terms (largest document frequency over those stories);
3. TF-IDF: `fetch_rcv1` already ships log-TF-IDF weights; after the term selection each
   row is re-normalised to unit L2 norm (rows without any kept term stay zero);
4. `reuters`: balance the classes, `per_class` stories each (the paper: 54 000; default
   the smallest class), seeded; `reuters10k`: 10 000 random stories (seeded), the size
   most papers use.
The matrix stays scipy CSR (memory O(nnz)); `to_dataset` densifies per batch.

`fetch_rcv1` downloads about 650 MB once into `data_home` (scikit-learn's default
`~/scikit_learn_data`) and reads the cache afterwards.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse
from sklearn.datasets import fetch_rcv1
from sklearn.preprocessing import normalize

from ddc_tf.data.arrays import ArrayData, balance_classes, canonical_csr, check_finite

__all__ = ["REUTERS_ROOTS", "load_reuters", "load_reuters10k", "single_root_stories", "top_terms"]

REUTERS_ROOTS = ("CCAT", "ECAT", "GCAT", "MCAT")
N_TERMS = 2000


def _fetch(data_home: str | os.PathLike | None, download: bool):
    """`fetch_rcv1(subset="all")` with errors that say where the cache was looked for."""
    try:
        return fetch_rcv1(data_home=data_home, subset="all", download_if_missing=download)
    except OSError as err:  # missing cache with download=False, or no network (URLError)
        where = data_home if data_home is not None else "scikit-learn's default data_home"
        raise FileNotFoundError(
            f"reuters: RCV1 is not cached in {where} and could not be downloaded "
            f"(download={download}): {err}"
        ) from err


def single_root_stories(bunch) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Stories of a `fetch_rcv1` bunch that carry exactly one root category.

    Args:
        bunch: with `data` (CSR `(n, n_terms)`), `target` (sparse `(n, n_categories)`
            0/1) and `target_names` (`(n_categories,)` strings).

    Returns:
        `(x, y)`: CSR float32 rows of those stories and int64 labels `(m,)` indexing
        `REUTERS_ROOTS`.
    """
    names = [str(t) for t in np.asarray(bunch.target_names)]
    missing = [r for r in REUTERS_ROOTS if r not in names]
    if missing:
        raise ValueError(f"reuters: the RCV1 bunch has no categor(y/ies) {missing} in target_names")
    columns = [names.index(r) for r in REUTERS_ROOTS]
    target = scipy.sparse.csr_matrix(bunch.target)
    if target.shape[0] != bunch.data.shape[0]:
        raise ValueError(
            f"reuters: {target.shape[0]} label rows for {bunch.data.shape[0]} stories"
        )
    roots = (target[:, columns].toarray() != 0).astype(np.int8)  # (n, 4)
    single = np.flatnonzero(roots.sum(axis=1) == 1)
    if single.size == 0:
        raise ValueError("reuters: no story carries exactly one root category")
    x = canonical_csr(scipy.sparse.csr_matrix(bunch.data)[single])
    check_finite(x.data, "reuters (RCV1 data)")
    return x, np.argmax(roots[single], axis=1).astype(np.int64)


def top_terms(x: scipy.sparse.csr_matrix, n_terms: int) -> np.ndarray:
    """Column indices of the `n_terms` terms in most rows (ties: lower index), sorted."""
    if n_terms < 1:
        raise ValueError(f"reuters: n_terms must be >= 1, got {n_terms}")
    document_frequency = np.bincount(x.indices, minlength=x.shape[1])
    order = np.argsort(-document_frequency, kind="stable")
    return np.sort(order[: min(n_terms, x.shape[1])])


def _finish(name: str, x: scipy.sparse.csr_matrix, y: np.ndarray, keep: np.ndarray) -> ArrayData:
    return ArrayData(
        x=canonical_csr(x[keep]),
        y=y[keep],
        name=name,
        kind="vector",
        raw_dtype="float32",
        scale=1.0,
        class_names=REUTERS_ROOTS,
    )


def _prepare(
    data_home: str | os.PathLike | None, download: bool, n_terms: int, normalise: bool
) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    x, y = single_root_stories(_fetch(data_home, download))
    x = x[:, top_terms(x, n_terms)]
    if normalise:
        x = normalize(x, norm="l2", axis=1, copy=False)
    return canonical_csr(x), y


def load_reuters(
    *,
    data_home: str | os.PathLike | None = None,
    per_class: int | None = None,
    n_terms: int = N_TERMS,
    seed: int = 0,
    download: bool = True,
    normalize_rows: bool = True,
) -> ArrayData:
    """RCV1's 4 root categories, DEC protocol, balanced per class.

    Args:
        data_home: scikit-learn's cache folder for RCV1.
        per_class: stories kept per class (the paper: 54 000); default the smallest class.
        n_terms: number of most frequent terms kept (2 000).
        seed: seed of the per-class choice.
        download: let `fetch_rcv1` download when the cache is missing.
        normalize_rows: re-normalise rows to unit L2 after the term selection.

    Returns:
        Sparse `ArrayData` of kind `"vector"`: `x` CSR float32 `(4 * per_class, n_terms)`,
        `y` int64, `class_names = ("CCAT", "ECAT", "GCAT", "MCAT")`.
    """
    x, y = _prepare(data_home, download, n_terms, normalize_rows)
    return _finish("reuters", x, y, balance_classes(y, per_class, seed, where="reuters"))


def load_reuters10k(
    *,
    data_home: str | os.PathLike | None = None,
    n: int = 10_000,
    n_terms: int = N_TERMS,
    seed: int = 0,
    download: bool = True,
    normalize_rows: bool = True,
) -> ArrayData:
    """`n` random single-root RCV1 stories (not balanced), DEC protocol otherwise.

    Arguments as `load_reuters`; `n` is the number of stories (10 000).
    """
    x, y = _prepare(data_home, download, n_terms, normalize_rows)
    if not 1 <= n <= y.size:
        raise ValueError(f"reuters10k: n={n} but only {y.size} single-root stories")
    keep = np.sort(np.random.default_rng(seed).choice(y.size, n, replace=False))
    return _finish("reuters10k", x, y, keep)
