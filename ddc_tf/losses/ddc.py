"""The DDC loss (Kampffmeyer et al. 2019, Eq. 4), term by term.

Read this module next to ``SPEC.md`` §1 / the paper's §3.1:

1. ``pairwise_sq_dists``   D_ql = ||h_q - h_l||², one matmul, clipped at 0.
2. ``bandwidth_sq``        σ² from the median pairwise distance (two conventions), no gradient.
3. ``gaussian_kernel``     K = exp(-D / (2σ²)).
4. ``cauchy_schwarz``      d_cs(B) = mean_{i<j} N_ij / sqrt(N_ii N_jj), N = Bᵀ K B.
5. ``ddc_loss``            l1 = d_cs(A), l2 = mean_{q<l} (A Aᵀ)_ql, l3 = d_cs(M),
                           M_qi = exp(-||a_q - e_i||²), total = w1 l1 + w2 l2 + w3 l3.

Everything is computed in float32 whatever the input dtype (mixed precision), is a
single vectorised expression per term (no Python loop over clusters or points), has
static shapes apart from the batch dimension, and compiles under XLA.
"""

from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf

from ddc_tf.checks import positive_number
from ddc_tf.options import DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE, SIGMA_MODES, SigmaMode  # noqa: F401

#: Floor on σ² so a batch of identical points does not divide by zero.
EPS_SIGMA = 1e-9
#: Floor on the entries of N = Bᵀ K B (SPEC §1.4).
EPS_N = 1e-9
#: Floor on the products N_ii · N_jj (SPEC §1.4).
EPS_N_DIAG_PRODUCT = 1e-18

TERM_NAMES: tuple[str, ...] = ("l1", "l2", "l3")


def _as_float32(x: tf.Tensor) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    return x if x.dtype == tf.float32 else tf.cast(x, tf.float32)


def _strict_upper_mask(m: tf.Tensor) -> tf.Tensor:
    """Boolean (m, m) mask of the pairs q < l."""
    idx = tf.range(m)
    return idx[:, None] < idx[None, :]


def _num_pairs(m: tf.Tensor) -> tf.Tensor:
    """m (m - 1) / 2 as float32 (0 when m < 2)."""
    m = tf.cast(m, tf.float32)
    return m * (m - 1.0) / 2.0


def pairwise_sq_dists(x: tf.Tensor) -> tf.Tensor:
    """Squared Euclidean distances between all rows of ``x``.

    Computed with one matmul as ``|x_q|² + |x_l|² - 2 x_q·x_l``, clipped at 0 (round-off
    can make it slightly negative) and with an exact zero diagonal.

    Args:
        x: ``(m, d)`` tensor, any float dtype (computed in float32).

    Returns:
        ``(m, m)`` float32 tensor ``D`` with ``D[q, l] = ||x_q - x_l||²``.
    """
    x = _as_float32(x)
    sq_norms = tf.reduce_sum(tf.square(x), axis=1)
    gram = tf.matmul(x, x, transpose_b=True)
    d = sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram
    d = tf.nn.relu(d)
    # Exact zero diagonal. (tf.where rather than set_diag: set_diag's gradient does not
    # compile under XLA when the batch dimension is dynamic.)
    on_diagonal = tf.eye(tf.shape(x)[0], dtype=tf.bool)
    return tf.where(on_diagonal, tf.zeros_like(d), d)


#: Bit pattern of +inf: every non-negative float32 lies in [0, this].
_INF_BITS = 0x7F800000


def _kth_smallest_bits(bits: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    """Bit pattern of the k-th smallest (0-based) of non-negative float32 values.

    For non-negative IEEE floats (and +inf) the int32 bit patterns order exactly as the
    values do, so bisection over the 31-bit integer range finds the k-th value exactly in
    31 passes, each one comparison and one sum over the values. No sort, static shapes.

    Args:
        bits: ``(N,)`` int32, ``tf.bitcast`` of float32 values ≥ 0 (+inf allowed).
        k: int32 scalar rank, ``0 ≤ k < N``.

    Returns:
        int32 scalar: the bit pattern of the k-th smallest value.
    """

    def narrow(low: tf.Tensor, high: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        middle = low + (high - low) // 2
        at_most_middle = tf.reduce_sum(tf.cast(bits <= middle, tf.int32))
        found_below = at_most_middle >= k + 1
        return tf.where(found_below, low, middle + 1), tf.where(found_below, middle, high)

    low, high = tf.constant(0, tf.int32), tf.constant(_INF_BITS, tf.int32)
    low, _ = tf.while_loop(
        lambda low, high: low < high, narrow, (low, high), maximum_iterations=32
    )
    return low


def _middle_pair_by_selection(values: tf.Tensor, n_pairs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Values of rank (n_pairs - 1) // 2 and n_pairs // 2 of ``values`` (≥ 0, +inf padded)."""
    bits = tf.bitcast(values, tf.int32)
    lower = _kth_smallest_bits(bits, tf.maximum((n_pairs - 1) // 2, 0))
    # Rank n_pairs // 2 is the same value if it is repeated, else the next value up.
    repeated = tf.reduce_sum(tf.cast(bits <= lower, tf.int32)) > n_pairs // 2
    upper = tf.where(repeated, lower, tf.reduce_min(tf.where(bits > lower, bits, tf.int32.max)))
    return tf.bitcast(lower, tf.float32), tf.bitcast(upper, tf.float32)


def upper_triangle_median(d: tf.Tensor) -> tf.Tensor:
    """Median of the entries ``d[q, l]`` with ``q < l``, as ``numpy.median`` defines it.

    For an even number of pairs it is the mean of the two middle values. With fewer than
    two points (no pairs) it is 0. Exact, by bisection on the float bit patterns
    (:func:`_kth_smallest_bits`) rather than a sort. Loss forward + backward, interleaved
    A/B against the full sort (``benchmarks/median_ab.py``): ×1.1 at m = 100, ×1.9 at 512,
    ×8.8 at 2048 without XLA; ×2.6–9.9 with XLA. (A scatter-based radix histogram was as
    fast but took 8–25 s to compile under XLA; the bisection compiles in under a second.)

    Args:
        d: ``(m, m)`` float32 tensor, entries ≥ 0 (only its strict upper triangle is read).

    Returns:
        float32 scalar.
    """
    m = tf.shape(d)[0]
    n_pairs = m * (m - 1) // 2
    masked = tf.where(_strict_upper_mask(m), d, tf.constant(float("inf"), d.dtype))
    lower, upper = _middle_pair_by_selection(tf.reshape(masked, [-1]), n_pairs)
    median = 0.5 * (lower + upper)
    return tf.where(n_pairs > 0, median, tf.zeros_like(median))


def bandwidth_sq(
    dists_sq: tf.Tensor,
    rel_sigma: float = DEFAULT_REL_SIGMA,
    sigma_mode: SigmaMode = DEFAULT_SIGMA_MODE,
    eps: float = EPS_SIGMA,
) -> tf.Tensor:
    """Kernel bandwidth σ² for one batch, held constant for the gradient.

    Args:
        dists_sq: ``(m, m)`` squared distances from :func:`pairwise_sq_dists`.
        rel_sigma: the relative bandwidth (0.15 in the paper).
        sigma_mode: ``"paper"``: σ = rel_sigma · median_{q<l} sqrt(D_ql) (the paper's
            wording, §4.6); ``"reference"``: σ² = rel_sigma · median_{q<l} D_ql (the widely
            used PyTorch reference implementation).
        eps: floor on σ² (identical points would otherwise give σ² = 0).

    Returns:
        float32 scalar σ², wrapped in ``stop_gradient``.
    """
    if sigma_mode not in SIGMA_MODES:
        raise ValueError(f"sigma_mode={sigma_mode!r}; expected one of {SIGMA_MODES}")
    if not tf.is_tensor(rel_sigma):
        rel_sigma = positive_number(rel_sigma, "rel_sigma")
    d = tf.stop_gradient(_as_float32(dists_sq))
    if sigma_mode == "paper":
        sigma = rel_sigma * upper_triangle_median(tf.sqrt(d))
        sigma_sq = tf.square(sigma)
    else:
        sigma_sq = rel_sigma * upper_triangle_median(d)
    return tf.stop_gradient(tf.maximum(sigma_sq, eps))


def gaussian_kernel(dists_sq: tf.Tensor, sigma_sq: tf.Tensor) -> tf.Tensor:
    """Gaussian kernel ``K = exp(-D / (2σ²))``.

    Args:
        dists_sq: ``(m, m)`` squared distances.
        sigma_sq: scalar σ² (> 0).

    Returns:
        ``(m, m)`` float32 kernel matrix.
    """
    return tf.exp(-_as_float32(dists_sq) / (2.0 * _as_float32(sigma_sq)))


def cauchy_schwarz(b: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Mean Cauchy–Schwarz similarity between the columns of ``b`` in the kernel space.

    ``N = bᵀ K b`` (k × k, entries clamped at ≥ 1e-9); the result is the mean over the
    k (k - 1) / 2 cluster pairs ``i < j`` of ``N_ij / sqrt(N_ii N_jj)`` (the product of
    diagonals clamped at ≥ 1e-18). 0 for k = 1 (no pairs). Lower is better separated.

    Args:
        b: ``(m, k)`` non-negative weights of each point for each cluster.
        kernel: ``(m, m)`` kernel matrix.

    Returns:
        float32 scalar in [0, 1] for a positive semi-definite kernel.
    """
    b = _as_float32(b)
    n = tf.matmul(b, tf.matmul(_as_float32(kernel), b), transpose_a=True)
    n = tf.maximum(n, EPS_N)
    diag = tf.linalg.diag_part(n)
    denom_sq = tf.maximum(diag[:, None] * diag[None, :], EPS_N_DIAG_PRODUCT)
    ratios = n / tf.sqrt(denom_sq)
    k = tf.shape(b)[1]
    pair_sum = tf.reduce_sum(tf.where(_strict_upper_mask(k), ratios, tf.zeros_like(ratios)))
    n_pairs = _num_pairs(k)
    return tf.math.divide_no_nan(pair_sum, n_pairs)


def orthogonality(a: tf.Tensor, proportions: Sequence[float] | None = None) -> tf.Tensor:
    """l2: mean over point pairs q < l of the inner products ``a_q · a_l``.

    The paper's Eq. 4 writes the plain sum ``triu(A Aᵀ)``; we divide it by the number of
    pairs m (m - 1) / 2 so the term's scale does not grow with the batch size (as the
    PyTorch reference does). Computed in O(m k) as ``(|Σ_q a_q|² - Σ_q |a_q|²) / 2``.

    For one-hot rows it is ``Σ_i n_i (n_i − 1) / (m (m − 1))`` for clusters of n_i points:
    smallest when the clusters are equal (≈ 1/k). With target ``proportions`` π (the
    size-aware variant, not in the paper) the inner products are weighted,
    ``a_q · diag(w) · a_l`` with ``w_i = 1 / (k π_i)``: then ``Σ_i w_i n_i² / m²`` is
    smallest when cluster i holds the share π_i of the points (Cauchy–Schwarz:
    ``Σ_i p_i² / π_i ≥ (Σ_i p_i)² / Σ_i π_i = 1``), at the same value ≈ 1/k, and uniform
    π gives back the paper's term exactly.

    Args:
        a: ``(m, k)`` soft assignments.
        proportions: None (the paper's term) or k positive numbers summing to 1, the
            target share of the points of each cluster.

    Returns:
        float32 scalar (0 for m < 2).
    """
    a = _as_float32(a)
    column_sums = tf.reduce_sum(a, axis=0)
    if proportions is None:
        pair_sum = 0.5 * (tf.reduce_sum(tf.square(column_sums)) - tf.reduce_sum(tf.square(a)))
    else:
        pi = tf.constant(proportions, tf.float32)
        if pi.shape.rank != 1 or (a.shape[-1] is not None and pi.shape[0] != a.shape[-1]):
            raise ValueError(f"proportions must be {a.shape[-1]} numbers, one per cluster, got {list(proportions)}")
        weights = 1.0 / (tf.cast(tf.shape(pi)[0], tf.float32) * pi)
        pair_sum = 0.5 * tf.reduce_sum(weights * (tf.square(column_sums) - tf.reduce_sum(tf.square(a), axis=0)))
    return tf.math.divide_no_nan(pair_sum, _num_pairs(tf.shape(a)[0]))


def simplex_corner_affinity(a: tf.Tensor) -> tf.Tensor:
    """``M_qi = exp(-||a_q - e_i||²)``, closeness of each assignment to each simplex corner.

    Args:
        a: ``(m, k)`` soft assignments.

    Returns:
        ``(m, k)`` float32 matrix M.
    """
    a = _as_float32(a)
    sq_norms = tf.reduce_sum(tf.square(a), axis=1, keepdims=True)
    # ||a_q - e_i||² = |a_q|² - 2 a_qi + 1
    return tf.exp(-(sq_norms - 2.0 * a + 1.0))


def _check_batch_shapes(hidden: tf.Tensor, assignments: tf.Tensor) -> None:
    """ValueError for shapes the loss cannot take (checked on the static shapes)."""
    h_shape, a_shape = tf.TensorShape(hidden.shape), tf.TensorShape(assignments.shape)
    if h_shape.rank != 2 or a_shape.rank != 2:
        raise ValueError(
            f"ddc_loss needs hidden (m, d) and assignments (m, k), got shapes {h_shape} and {a_shape}"
        )
    m_h, m_a = h_shape[0], a_shape[0]
    if m_h is not None and m_a is not None and m_h != m_a:
        raise ValueError(f"hidden has {m_h} rows but assignments {m_a}: one row per point in both")
    m = m_h if m_h is not None else m_a
    if m == 0:
        raise ValueError("ddc_loss got an empty batch (0 points)")


def ddc_loss(
    hidden: tf.Tensor,
    assignments: tf.Tensor,
    *,
    rel_sigma: float = DEFAULT_REL_SIGMA,
    sigma_mode: SigmaMode = DEFAULT_SIGMA_MODE,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    proportions: Sequence[float] | None = None,
) -> dict[str, tf.Tensor]:
    """The DDC loss of one mini-batch (paper Eq. 4) and its three terms.

    Args:
        hidden: ``(m, d)`` hidden representation (the last hidden layer, after its batch
            norm); any float dtype, cast to float32.
        assignments: ``(m, k)`` soft cluster assignments (softmax output).
        rel_sigma: relative kernel bandwidth (0.15 in the paper).
        sigma_mode: ``"reference"`` or ``"paper"``; see :func:`bandwidth_sq`.
        weights: ``(w1, w2, w3)``; a weight of 0 switches its term off (Table 2 ablation).
            The terms are still computed and reported.
        proportions: None (the paper's loss) or the k clusters' target shares of the
            points, summing to 1: the size-aware ``l2`` of :func:`orthogonality`.

    Returns:
        dict of float32 scalars: ``l1`` (Cauchy–Schwarz of the assignments), ``l2``
        (orthogonality, mean over point pairs), ``l3`` (Cauchy–Schwarz of the simplex-corner
        affinities) and ``total`` = w1·l1 + w2·l2 + w3·l3.

    Example:
        >>> terms = ddc_loss(tf.random.normal([100, 64]), tf.nn.softmax(tf.random.normal([100, 10])))
        >>> sorted(terms)
        ['l1', 'l2', 'l3', 'total']
    """
    weights = tuple(float(w) for w in weights)
    if len(weights) != 3:
        raise ValueError(f"weights must have 3 entries (w1, w2, w3), got {len(weights)}")
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative, got {weights}")
    _check_batch_shapes(hidden, assignments)
    a = _as_float32(assignments)
    # The kernel is scale- and translation-invariant (σ² follows the median distance), so
    # the distances are taken on the centred batch divided by its largest entry: squared
    # norms of |h| ≳ 1e19 would overflow float32, and nothing else changes.
    h = _as_float32(hidden)
    h = h - tf.reduce_mean(h, axis=0, keepdims=True)
    h = h / tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(h)), 1.1754944e-38))
    dists_sq = pairwise_sq_dists(h)
    sigma_sq = bandwidth_sq(dists_sq, rel_sigma=rel_sigma, sigma_mode=sigma_mode)
    kernel = gaussian_kernel(dists_sq, sigma_sq)
    terms = {
        "l1": cauchy_schwarz(a, kernel),
        "l2": orthogonality(a, proportions),
        "l3": cauchy_schwarz(simplex_corner_affinity(a), kernel),
    }
    total = tf.add_n([w * terms[name] for w, name in zip(weights, TERM_NAMES)])
    return {**terms, "total": total}
