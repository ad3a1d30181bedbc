"""Entropic optimal transport for clustering: geometry, problem and a log-domain Sinkhorn solver.

Genevay, Dulac-Arnold & Vert (2019) write k-means as an optimal-transport problem between
the m points of a batch (mass ``a_i = 1/m`` each) and k centroids (mass ``b_j``, the target
cluster proportions): the plan ``P`` (m × k) is a soft assignment of points to clusters
whose column sums are the cluster sizes. With an entropic regularisation of strength ε,

    P* = argmin_{P ≥ 0, P 1 = a, Pᵀ 1 = b}  ⟨P, C⟩ − ε H(P),   H(P) = −Σ P_ij (log P_ij − 1),

is unique, smooth in the cost ``C`` and found by Sinkhorn's iterations. Following OTT-JAX,
the three ingredients are separate and testable alone:

- :class:`Geometry` — the cost matrix ``C`` (squared Euclidean between embeddings and
  centroids) and ε;
- :class:`Problem` — the geometry plus the marginals ``a`` (uniform over the batch) and
  ``b`` (target proportions, or ``None`` for a *free* column marginal);
- :func:`sinkhorn` — the solver: log-domain updates of the dual potentials ``f``, ``g``,
  a fixed number of iterations (static shapes, XLA-friendly, differentiable by unrolling),
  optionally with the plan held constant in the backward pass.

With ``b = None`` the column constraint disappears and the optimal plan is
``P_ij = a_i · softmax_j(−C_ij / ε)``: soft k-means (Fard et al. 2018), which the size
constraint generalises.

Example:
    >>> geometry = Geometry.squared_euclidean(embeddings, centroids, epsilon=0.05)
    >>> problem = Problem(geometry, proportions=(0.5, 0.3, 0.2))
    >>> out = sinkhorn(problem, iterations=50)
    >>> out.plan           # (m, 3), rows sum to 1/m, columns to (0.5, 0.3, 0.2)
    >>> out.assignments    # (m, 3), rows sum to 1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import tensorflow as tf

__all__ = [
    "Geometry",
    "Problem",
    "SinkhornOutput",
    "sinkhorn",
    "squared_euclidean",
    "DEFAULT_EPSILON",
    "DEFAULT_ITERATIONS",
    "assignment_logits",
    "annealing_schedule",
]

#: Entropic regularisation used by :class:`ddc_tf.models.OTClustering` by default, in the
#: units of its normalised embedding (total variance 1 per batch; see that class).
DEFAULT_EPSILON = 0.01
#: Sinkhorn iterations per training step (fixed: static graph, no host round-trip).
DEFAULT_ITERATIONS = 50


def squared_euclidean(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Squared Euclidean distances ``||x_i − y_j||²`` with one matmul, clipped at 0.

    Args:
        x: ``(m, d)`` points.
        y: ``(k, d)`` points.

    Returns:
        ``(m, k)`` float32 costs.
    """
    x = tf.cast(x, tf.float32)
    y = tf.cast(y, tf.float32)
    sq_x = tf.reduce_sum(tf.square(x), axis=1, keepdims=True)  # (m, 1)
    sq_y = tf.reduce_sum(tf.square(y), axis=1)[tf.newaxis, :]  # (1, k)
    return tf.maximum(sq_x + sq_y - 2.0 * tf.matmul(x, y, transpose_b=True), 0.0)


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Geometry:
    """A cost matrix and the entropic regularisation ε it is solved with.

    Attributes:
        cost: ``(m, k)`` float32 cost ``C_ij`` of moving point i to centroid j.
        epsilon: entropic regularisation ε > 0 (same units as the cost); a Python number
            or a float32 scalar tensor (e.g. an annealing schedule).
    """

    cost: tf.Tensor
    epsilon: float | tf.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.epsilon, tf.Tensor) and not float(self.epsilon) > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon!r}")
        object.__setattr__(self, "cost", tf.cast(self.cost, tf.float32))
        if self.cost.shape.rank != 2:
            raise ValueError(f"cost must be a (m, k) matrix, got shape {self.cost.shape}")

    @classmethod
    def squared_euclidean(
        cls, x: tf.Tensor, centroids: tf.Tensor, epsilon: float | tf.Tensor
    ) -> "Geometry":
        """The k-means geometry: ``C_ij = ||x_i − c_j||²`` for ``x`` ``(m, d)``, ``centroids`` ``(k, d)``."""
        return cls(squared_euclidean(x, centroids), epsilon)

    @property
    def log_kernel(self) -> tf.Tensor:
        """``−C / ε``, the log of the Gibbs kernel ``K = exp(−C/ε)``."""
        return -self.cost / self.epsilon


# --------------------------------------------------------------------------- problem
def _proportions(proportions: Sequence[float] | tf.Tensor | None, k: int | None) -> tf.Tensor | None:
    if proportions is None:
        return None
    if isinstance(proportions, tf.Tensor):
        if not tf.executing_eagerly() or not hasattr(proportions, "numpy"):
            # inside a graph the values are unknown here: checked when the graph runs, then normalised
            # to sum to 1 (a marginal of another mass makes the problem infeasible) and clipped, so
            # log(b) stays finite
            b = tf.cast(proportions, tf.float32)
            b = tf.debugging.assert_all_finite(b, "proportions must be finite")
            with tf.control_dependencies([tf.debugging.assert_positive(b, "proportions must all be > 0")]):
                b = b / tf.reduce_sum(b)
            return tf.maximum(b, 1.1754944e-38)
        proportions = proportions.numpy().tolist()
    values = [float(p) for p in proportions]
    if any(not (p > 0 and math.isfinite(p)) for p in values):
        raise ValueError(f"proportions must all be finite and > 0, got {values}")
    if abs(sum(values) - 1.0) > 1e-3:
        raise ValueError(f"proportions must sum to 1, got {values} (sum {sum(values):.4f})")
    if k is not None and len(values) != k:
        raise ValueError(f"{len(values)} proportions for {k} clusters")
    total = sum(values)
    return tf.constant([p / total for p in values], tf.float32)


@dataclass(frozen=True)
class Problem:
    """Entropic OT between a batch (uniform row marginal) and k clusters.

    Args:
        geometry: the cost and ε.
        proportions: the column marginal ``b`` (k positive numbers summing to 1, the
            cluster-size constraint), ``"uniform"`` (``b_j = 1/k``) or ``None``: free column
            marginal (no size constraint — soft k-means).

    Attributes:
        a: ``(m,)`` row marginal, ``1/m`` each (computed from the dynamic batch size).
        b: ``(k,)`` column marginal, or ``None`` when free.
    """

    geometry: Geometry
    proportions: Sequence[float] | tf.Tensor | str | None = "uniform"

    def __post_init__(self) -> None:
        k = self.geometry.cost.shape[1]
        proportions = self.proportions
        if isinstance(proportions, str):
            if proportions != "uniform":
                raise ValueError(f"proportions={proportions!r}; expected 'uniform', None or k numbers")
            if k is None:
                raise ValueError("uniform proportions need a static number of clusters")
            proportions = [1.0 / k] * k
        object.__setattr__(self, "_b", _proportions(proportions, k))

    @property
    def a(self) -> tf.Tensor:
        m = tf.shape(self.geometry.cost)[0]
        return tf.fill([m], 1.0 / tf.cast(m, tf.float32))

    @property
    def b(self) -> tf.Tensor | None:
        return self._b  # type: ignore[attr-defined]

    @property
    def free_columns(self) -> bool:
        return self.b is None


# --------------------------------------------------------------------------- solver
@dataclass(frozen=True)
class SinkhornOutput:
    """What :func:`sinkhorn` returns (all float32).

    Attributes:
        f: ``(m,)`` row dual potential.
        g: ``(k,)`` column dual potential (zeros for a free column marginal).
        plan: ``(m, k)`` transport plan ``P_ij = exp((f_i + g_j − C_ij)/ε)``; rows sum to
            ``a`` exactly (the last update is the row update).
        transport_cost: ``⟨P, C⟩``, the (soft) k-means distortion.
        entropy: ``H(P) = −Σ P_ij (log P_ij − 1)``.
        regularized_cost: ``⟨P, C⟩ − ε H(P)``, the entropic OT objective.
        column_error: ``Σ_j |Σ_i P_ij − b_j|``, how far the cluster sizes are from the
            target after the fixed iterations (0 for a free column marginal).
    """

    f: tf.Tensor
    g: tf.Tensor
    plan: tf.Tensor
    transport_cost: tf.Tensor
    entropy: tf.Tensor
    regularized_cost: tf.Tensor
    column_error: tf.Tensor

    @property
    def assignments(self) -> tf.Tensor:
        """``(m, k)`` rows of the plan normalised to sum to 1: soft cluster assignments."""
        return self.plan / tf.reduce_sum(self.plan, axis=1, keepdims=True)


def assignment_logits(cost: tf.Tensor, g: tf.Tensor, epsilon: float | tf.Tensor) -> tf.Tensor:
    """``(g_j − C_ij)/ε``: the logits whose row-wise softmax is a plan's rows normalised.

    For a plan ``P_ij = exp((f_i + g_j − C_ij)/ε)`` the row ``i`` divided by its sum is
    ``softmax_j((g_j − C_ij)/ε)`` whatever ``f``: given the column potential ``g`` (the
    soft c-transform), each point's assignment needs no other point. OT clustering predicts
    with it from a running ``g``; with ``g = 0`` it is soft k-means' ``softmax(−C/ε)``.

    Args:
        cost: ``(m, k)`` costs ``C``.
        g: ``(k,)`` column potential.
        epsilon: entropic regularisation ε > 0.

    Returns:
        ``(m, k)`` float32 logits.
    """
    return (tf.cast(g, tf.float32)[tf.newaxis, :] - tf.cast(cost, tf.float32)) / epsilon


def _row_update(log_k: tf.Tensor, log_a: tf.Tensor, g_eps: tf.Tensor) -> tf.Tensor:
    """``f/ε = log a − logsumexp_j(g_j/ε − C_ij/ε)`` (rows of the plan sum to a)."""
    return log_a - tf.reduce_logsumexp(log_k + g_eps[tf.newaxis, :], axis=1)


def _column_update(log_k: tf.Tensor, log_b: tf.Tensor, f_eps: tf.Tensor) -> tf.Tensor:
    """``g/ε = log b − logsumexp_i(f_i/ε − C_ij/ε)`` (columns of the plan sum to b)."""
    return log_b - tf.reduce_logsumexp(log_k + f_eps[:, tf.newaxis], axis=0)


def annealing_schedule(
    epsilon: float | tf.Tensor, epsilon_start: float | None, annealing_iterations: int | None, iterations: int
) -> tf.Tensor | None:
    """The ``(iterations,)`` float32 ε of each iteration, or ``None`` (ε throughout) without
    ``epsilon_start``: geometric from ``epsilon_start`` at the first iteration to ``epsilon`` at
    the ``n``-th (``n`` = the annealing iterations, at most ``iterations``), ``epsilon`` after."""
    if epsilon_start is None:
        if annealing_iterations is not None:
            raise ValueError("annealing_iterations needs epsilon_start (the ε the annealing starts at)")
        return None
    if not (float(epsilon_start) > 0 and math.isfinite(float(epsilon_start))):
        raise ValueError(f"epsilon_start must be a positive number, got {epsilon_start!r}")
    if not isinstance(epsilon, tf.Tensor) and not float(epsilon_start) > float(epsilon):
        raise ValueError(f"epsilon_start ({epsilon_start!r}) must be larger than ε ({epsilon!r}): it is where the annealing starts")
    n = max(2, 2 * iterations // 5) if annealing_iterations is None else int(annealing_iterations)
    if n < 2:
        raise ValueError(f"annealing_iterations must be ≥ 2, got {annealing_iterations!r}")
    n = min(n, iterations)
    if n < 2:  # a single iteration: at ε
        share = tf.ones([iterations], tf.float32)
    else:
        share = tf.minimum(tf.range(iterations, dtype=tf.float32) / float(n - 1), 1.0)
    start = tf.constant(float(epsilon_start), tf.float32)
    return start * tf.pow(tf.cast(epsilon, tf.float32) / start, share)


def sinkhorn(
    problem: Problem,
    iterations: int = DEFAULT_ITERATIONS,
    *,
    stop_gradient_plan: bool = False,
    g_init: tf.Tensor | None = None,
    epsilon_start: float | None = None,
    annealing_iterations: int | None = None,
) -> SinkhornOutput:
    """Solve the entropic OT ``problem`` with ``iterations`` log-domain Sinkhorn iterations.

    All updates are on the scaled potentials ``f/ε``, ``g/ε`` with ``logsumexp``, so no
    ``exp(−C/ε)`` is ever formed: the solver stays finite in float32 for any ε > 0 (a plain
    kernel ``exp(−C/ε)`` underflows to 0 as soon as ``C/ε > 88``). Each iteration is a
    column update followed by a row update, so the returned plan's rows sum to ``a``
    exactly and its columns to ``b`` up to ``column_error``.

    Args:
        problem: geometry and marginals. A free column marginal (``b = None``) needs no
            iteration: ``g = 0`` and one row update gives ``P = a · softmax(−C/ε)``.
        iterations: fixed number of iterations (≥ 1), run in a ``tf.while_loop``.
        stop_gradient_plan: treat the plan as a constant in the backward pass: the
            iterations run on ``stop_gradient(C)``, so ``∂⟨P, C⟩/∂C = P``, which is the
            exact gradient of the entropic OT value ``min_P ⟨P, C⟩ − εH(P)`` at the
            optimum (envelope theorem) and costs no backward pass through the loop.
            ``False`` differentiates through the unrolled iterations.
        g_init: optional ``(k,)`` warm start of the column potential ``g`` (e.g. the
            running average kept by the model); zeros by default.
        epsilon_start: ε-scaling (annealing): the iterations start at this larger ε and
            lower it geometrically to the problem's ε over the first
            ``annealing_iterations``, then stay at it. A smooth problem converges in few
            iterations and hands its potentials on, so a fixed budget gets much closer to
            the fixed point at small ε (``benchmarks/sinkhorn_convergence.py``: at ε 0.01
            and 50 iterations the column error falls from 0.13 to 0.021). ``None`` (default)
            solves at ε throughout. In the units of the cost.
        annealing_iterations: how many of the iterations lower ε (the last of them is at
            the problem's ε); default ``max(2, 2 · iterations // 5)``, at most ``iterations``.

    Returns:
        :class:`SinkhornOutput`.
    """
    if int(iterations) < 1:
        raise ValueError(f"iterations must be ≥ 1, got {iterations!r}")
    geometry = problem.geometry
    schedule = annealing_schedule(geometry.epsilon, epsilon_start, annealing_iterations, int(iterations))
    eps = tf.cast(geometry.epsilon, tf.float32)
    cost = tf.stop_gradient(geometry.cost) if stop_gradient_plan else geometry.cost
    log_k = -cost / eps
    log_a = tf.math.log(problem.a)
    k = tf.shape(cost)[1]

    if problem.free_columns:
        g_eps = tf.zeros([k], tf.float32)
        f_eps = _row_update(log_k, log_a, g_eps)
    else:
        log_b = tf.math.log(problem.b)
        g = tf.zeros([k], tf.float32) if g_init is None else tf.cast(g_init, tf.float32)
        if g_init is not None and stop_gradient_plan:
            g = tf.stop_gradient(g)
        if schedule is None:  # at ε throughout: the scaled potentials f/ε, g/ε
            g_eps = g / eps

            def body(f_eps: tf.Tensor, g_eps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                g_eps = _column_update(log_k, log_b, f_eps)
                return _row_update(log_k, log_a, g_eps), g_eps

            f_eps, g_eps = tf.while_loop(lambda f, g: True, body, (_row_update(log_k, log_a, g_eps), g_eps),
                                         maximum_iterations=int(iterations))
        else:  # ε changes between iterations: the potentials in the cost's units
            def annealed(t: tf.Tensor, f: tf.Tensor, g: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
                eps_t = schedule[t]
                log_k_t = -cost / eps_t
                g = eps_t * _column_update(log_k_t, log_b, f / eps_t)
                return t + 1, eps_t * _row_update(log_k_t, log_a, g / eps_t), g

            f = schedule[0] * _row_update(-cost / schedule[0], log_a, g / schedule[0])
            _, _, g = tf.while_loop(lambda t, f, g: True, annealed, (tf.constant(0), f, g),
                                    maximum_iterations=int(iterations))
            g_eps = g / eps
            f_eps = _row_update(log_k, log_a, g_eps)  # at the problem's ε
    # log P_ij = f_i/ε + g_j/ε − C_ij/ε, written as log a_i + log_softmax_j(g/ε − C_i/ε): for
    # small ε the terms are ~C/ε ≫ 1 and their float32 rounding would leave row sums off by
    # ~1e-3; the normalised form keeps every row summing to a_i to float32 precision.
    log_plan = log_a[:, tf.newaxis] + tf.nn.log_softmax(log_k + g_eps[tf.newaxis, :], axis=1)
    plan = tf.exp(log_plan)
    if stop_gradient_plan:
        plan = tf.stop_gradient(plan)

    transport_cost = tf.reduce_sum(plan * geometry.cost)
    entropy = -tf.reduce_sum(plan * (log_plan - 1.0))
    if problem.free_columns:
        column_error = tf.constant(0.0, tf.float32)
    else:
        column_error = tf.reduce_sum(tf.abs(tf.reduce_sum(plan, axis=0) - problem.b))
    return SinkhornOutput(
        f=f_eps * eps,
        g=g_eps * eps,
        plan=plan,
        transport_cost=transport_cost,
        entropy=entropy,
        regularized_cost=transport_cost - eps * entropy,
        column_error=column_error,
    )
