"""Independent float64 NumPy reference of the DDC loss (SPEC.md section 1).

Written from the specification text and the paper (Kampffmeyer et al. 2019, section 3.1)
alone, without looking at ``ddc_tf/losses/ddc.py``.  Clarity over speed: distances come from
explicit differences (not the matmul identity), the Cauchy-Schwarz term loops over
cluster pairs, the orthogonality term loops over the upper-triangle indices, so that a
shared shortcut cannot hide a shared bug.

Definitions (per mini-batch of m points, k clusters):

* ``D_ql = ||h_q - h_l||^2`` (exact, non-negative in float64).
* Bandwidth over the m(m-1)/2 pairs q<l, median as ``numpy.median`` defines it (mean of
  the two middle values for an even count):

  - ``"paper"``:     ``sigma = rel_sigma * median(sqrt(D_ql))`` and ``sigma^2`` its square;
  - ``"reference"``: ``sigma^2 = rel_sigma * median(D_ql)``;

  then floored at ``eps``.  m = 1 has no pair: sigma^2 is defined as ``eps`` (the floor).
  It does not matter there: the 1 x 1 kernel is ``[[1]]`` for every sigma.
* ``K = exp(-D / (2 sigma^2))``.
* ``d_cs(B)`` for non-negative m x k ``B``: ``N = B^T K B`` clamped elementwise at >= 1e-9,
  ``d_cs = mean_{i<j} N_ij / sqrt(max(N_ii N_jj, 1e-18))`` (a mean over the k(k-1)/2 pairs,
  not the paper's 1/k factor).  k = 1 has no cluster pair: ``d_cs`` is defined as 0.
* ``l1 = d_cs(A)``; ``l2 = mean_{q<l} (A A^T)_ql`` (sum over the strict upper triangle
  divided by m(m-1)/2; defined as 0 for m = 1); ``l3 = d_cs(M)`` with
  ``M_qi = exp(-||a_q - e_i||^2)``.
* ``total = w1 l1 + w2 l2 + w3 l3``.
"""

from __future__ import annotations

import numpy as np

N_FLOOR = 1e-9
PROD_FLOOR = 1e-18
DEFAULT_EPS = 1e-9


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def softmax(logits) -> np.ndarray:
    z = _f64(logits)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def pairwise_sq_dists(h) -> np.ndarray:
    h = _f64(h)
    if h.ndim != 2:
        raise ValueError(f"hidden must be (m, d), got shape {h.shape}")
    diff = h[:, None, :] - h[None, :, :]
    return np.einsum("qld,qld->ql", diff, diff)


def upper_pairs(m: int):
    return np.triu_indices(m, k=1)


def bandwidth_sq(dists_sq, rel_sigma: float = 0.15, sigma_mode: str = "reference",
                 eps: float = DEFAULT_EPS) -> float:
    d = _f64(dists_sq)
    m = d.shape[0]
    iu = upper_pairs(m)
    vals = d[iu]
    if vals.size == 0:
        return float(eps)
    if sigma_mode == "paper":
        sigma = rel_sigma * np.median(np.sqrt(np.maximum(vals, 0.0)))
        s2 = sigma * sigma
    elif sigma_mode == "reference":
        s2 = rel_sigma * np.median(vals)
    else:
        raise ValueError(f"unknown sigma_mode {sigma_mode!r}")
    return float(max(s2, eps))


def gaussian_kernel(dists_sq, sigma_sq) -> np.ndarray:
    return np.exp(-_f64(dists_sq) / (2.0 * float(sigma_sq)))


def cauchy_schwarz(b, kernel) -> float:
    b = _f64(b)
    kmat = _f64(kernel)
    k = b.shape[1]
    if k < 2:
        return 0.0
    n = b.T @ kmat @ b
    n = np.maximum(n, N_FLOOR)
    acc = 0.0
    count = 0
    for i in range(k - 1):
        for j in range(i + 1, k):
            acc += n[i, j] / np.sqrt(max(n[i, i] * n[j, j], PROD_FLOOR))
            count += 1
    return float(acc / count)


def simplex_corner_affinity(a) -> np.ndarray:
    a = _f64(a)
    m, k = a.shape
    out = np.empty((m, k))
    for i in range(k):
        corner = np.zeros(k)
        corner[i] = 1.0
        out[:, i] = np.exp(-np.sum((a - corner) ** 2, axis=1))
    return out


def orthogonality(a, proportions=None) -> float:
    """Mean over pairs q < l of ``a_q · W · a_l``, W = I (the paper) or diag(1 / (k π))."""
    a = _f64(a)
    m, k = a.shape
    if m < 2:
        return 0.0
    iu = upper_pairs(m)
    w = np.eye(k) if proportions is None else np.diag(1.0 / (k * _f64(proportions)))
    g = a @ w @ a.T
    return float(g[iu].sum() / (m * (m - 1) / 2))


def ddc_loss(hidden, assignments, *, rel_sigma: float = 0.15, sigma_mode: str = "reference",
             weights=(1.0, 1.0, 1.0), eps: float = DEFAULT_EPS, sigma_sq: float | None = None,
             proportions=None):
    """Return dict l1, l2, l3, total (python floats) and ``sigma_sq`` used.

    ``sigma_sq`` given: use that bandwidth instead of estimating it (a fixed bandwidth for
    finite differences: the TF loss holds it constant through ``stop_gradient``).
    """
    h = _f64(hidden)
    a = _f64(assignments)
    d = pairwise_sq_dists(h)
    s2 = bandwidth_sq(d, rel_sigma, sigma_mode, eps) if sigma_sq is None else float(sigma_sq)
    kmat = gaussian_kernel(d, s2)
    l1 = cauchy_schwarz(a, kmat)
    l2 = orthogonality(a, proportions)
    l3 = cauchy_schwarz(simplex_corner_affinity(a), kmat)
    w1, w2, w3 = (float(w) for w in weights)
    total = w1 * l1 + w2 * l2 + w3 * l3
    return {"l1": l1, "l2": l2, "l3": l3, "total": total, "sigma_sq": s2}


def central_difference(f, x, step: float = 1e-6) -> np.ndarray:
    """Gradient of scalar ``f`` at ``x`` by central differences, float64."""
    x = _f64(x).copy()
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for idx in range(flat.size):
        old = flat[idx]
        flat[idx] = old + step
        fp = f(x)
        flat[idx] = old - step
        fm = f(x)
        flat[idx] = old
        gflat[idx] = (fp - fm) / (2.0 * step)
    return g
