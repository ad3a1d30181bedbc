"""Entropic OT (geometry, problem, log-domain Sinkhorn) and the OT clustering model.

The solver is checked against an independent float64 NumPy Sinkhorn written with the
textbook scaling updates ``u = a / (K v)``, ``v = b / (Kᵀ u)`` on ``K = exp(−C/ε)``.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import linear_sum_assignment

from ddc_tf.losses import sinkhorn
from ddc_tf.models.ot import OTClustering, parse_proportions
from ddc_tf.losses.sinkhorn import Geometry, Problem


# --------------------------------------------------------------------------- reference
def reference_sinkhorn(cost: np.ndarray, a: np.ndarray, b: np.ndarray, epsilon: float, iterations: int) -> np.ndarray:
    """Plain scaling Sinkhorn in float64: start v = 1, u = a/(Kv); then (v, u) updates."""
    kernel = np.exp(-cost / epsilon)
    v = np.ones(cost.shape[1])
    u = a / (kernel @ v)
    for _ in range(iterations):
        v = b / (kernel.T @ u)
        u = a / (kernel @ v)
    return u[:, None] * kernel * v[None, :]


def random_problem(m: int = 12, k: int = 4, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, d)).astype(np.float32), rng.normal(size=(k, d)).astype(np.float32)


# --------------------------------------------------------------------------- geometry / problem
def test_squared_euclidean_cost_matches_numpy():
    x, c = random_problem()
    expected = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    geometry = Geometry.squared_euclidean(x, c, epsilon=0.1)
    np.testing.assert_allclose(geometry.cost.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(geometry.log_kernel.numpy(), -expected / 0.1, rtol=1e-5, atol=1e-3)
    assert geometry.cost.numpy().min() >= 0


def test_problem_marginals():
    x, c = random_problem(m=10, k=3)
    geometry = Geometry.squared_euclidean(x, c, 0.1)
    uniform = Problem(geometry)
    np.testing.assert_allclose(uniform.a.numpy(), np.full(10, 0.1), rtol=1e-6)
    np.testing.assert_allclose(uniform.b.numpy(), np.full(3, 1 / 3), rtol=1e-6)
    given = Problem(geometry, (0.5, 0.3, 0.2))
    np.testing.assert_allclose(given.b.numpy(), [0.5, 0.3, 0.2], rtol=1e-6)
    free = Problem(geometry, None)
    assert free.free_columns and free.b is None


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"proportions": (0.5, 0.5)}, "2 proportions for 3 clusters"),
        ({"proportions": (0.5, 0.3, 0.3)}, "sum to 1"),
        ({"proportions": (1.2, -0.1, -0.1)}, "> 0"),
        ({"proportions": "balanced"}, "expected 'uniform'"),
    ],
)
def test_problem_rejects_bad_proportions(kwargs, pattern):
    x, c = random_problem(m=10, k=3)
    with pytest.raises(ValueError, match=pattern):
        Problem(Geometry.squared_euclidean(x, c, 0.1), **kwargs)


def test_geometry_rejects_non_positive_epsilon():
    x, c = random_problem()
    with pytest.raises(ValueError, match="epsilon"):
        Geometry.squared_euclidean(x, c, 0.0)


# --------------------------------------------------------------------------- solver
@pytest.mark.parametrize("proportions", ["uniform", (0.5, 0.3, 0.15, 0.05)])
def test_marginals_are_satisfied_after_enough_iterations(proportions):
    x, c = random_problem(m=30, k=4)
    problem = Problem(Geometry.squared_euclidean(x, c, epsilon=0.1), proportions)
    out = sinkhorn.sinkhorn(problem, iterations=500)
    plan = out.plan.numpy()
    np.testing.assert_allclose(plan.sum(axis=1), problem.a.numpy(), atol=1e-6)
    np.testing.assert_allclose(plan.sum(axis=0), problem.b.numpy(), atol=1e-4)
    assert float(out.column_error) < 1e-4
    np.testing.assert_allclose(out.assignments.numpy().sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("iterations", [1, 3, 200])
@pytest.mark.parametrize("epsilon", [0.3, 1.0])
def test_agrees_with_numpy_reference_iteration_for_iteration(iterations, epsilon):
    x, c = random_problem(m=8, k=3, seed=1)
    b = np.array([0.5, 0.3, 0.2])
    problem = Problem(Geometry.squared_euclidean(x, c, epsilon), tuple(b))
    out = sinkhorn.sinkhorn(problem, iterations=iterations)
    cost = problem.geometry.cost.numpy().astype(np.float64)
    expected = reference_sinkhorn(cost, np.full(8, 1 / 8), b, epsilon, iterations)
    np.testing.assert_allclose(out.plan.numpy(), expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(float(out.transport_cost), (expected * cost).sum(), rtol=1e-4)
    entropy = -(expected * (np.log(expected) - 1)).sum()
    np.testing.assert_allclose(float(out.entropy), entropy, rtol=1e-4)


def reference_annealed_sinkhorn(
    cost: np.ndarray, a: np.ndarray, b: np.ndarray, epsilons: list[float], epsilon: float
) -> np.ndarray:
    """Sinkhorn in float64 on the potentials (cost units), iteration t at ε = ``epsilons[t]``:
    f = −ε log Σ_j exp((g_j − C_ij)/ε) + ε log a_i, then g likewise; the plan at the final ε."""
    from scipy.special import logsumexp

    g = np.zeros(cost.shape[1])
    f = epsilons[0] * (np.log(a) - logsumexp((g[None] - cost) / epsilons[0], axis=1))
    for eps in epsilons:
        g = eps * (np.log(b) - logsumexp((f[:, None] - cost) / eps, axis=0))
        f = eps * (np.log(a) - logsumexp((g[None] - cost) / eps, axis=1))
    log_plan = (f[:, None] + g[None] - cost) / epsilon
    return np.exp(log_plan)


def test_epsilon_scaling_agrees_with_numpy_iteration_for_iteration():
    """ε falls geometrically from epsilon_start to ε over the annealing iterations, then stays."""
    x, c = random_problem(m=8, k=3, seed=1)
    b = np.array([0.5, 0.3, 0.2])
    problem = Problem(Geometry.squared_euclidean(x, c, 0.05), tuple(b))
    out = sinkhorn.sinkhorn(problem, 12, epsilon_start=2.0, annealing_iterations=5)
    epsilons = [2.0 * (0.05 / 2.0) ** (t / 4) for t in range(5)] + [0.05] * 7
    cost = problem.geometry.cost.numpy().astype(np.float64)
    expected = reference_annealed_sinkhorn(cost, np.full(8, 1 / 8), b, epsilons, 0.05)
    np.testing.assert_allclose(out.plan.numpy(), expected, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(float(out.transport_cost), (expected * cost).sum(), rtol=1e-3)


# with -m slow: a convergence measurement (benchmarks/sinkhorn_convergence.py); the annealed solver's
# correctness is test_epsilon_scaling_agrees_with_numpy_iteration_for_iteration, in the default run
@pytest.mark.slow
def test_epsilon_scaling_gets_closer_to_the_fixed_point_in_the_same_iterations():
    """At small ε a fixed budget stops far from the fixed point; annealing from a smooth
    problem gets much closer (the benchmark's batch shape: m 100, k 10, unit total variance)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 10))
    z = ((z - z.mean(0)) / z.std(0) / np.sqrt(10)).astype(np.float32)
    c = (rng.normal(size=(10, 10)) / np.sqrt(10)).astype(np.float32)
    problem = Problem(Geometry.squared_euclidean(z, c, 0.01), "uniform")
    plain = sinkhorn.sinkhorn(problem, 50)
    annealed = sinkhorn.sinkhorn(problem, 50, epsilon_start=1.0)
    converged = sinkhorn.sinkhorn(problem, 3000).plan.numpy()

    def plan_error(out):
        return np.linalg.norm(out.plan.numpy() - converged) / np.linalg.norm(converged)

    assert float(annealed.column_error) < 0.25 * float(plain.column_error)
    assert plan_error(annealed) < 0.5 * plan_error(plain)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"annealing_iterations": 10}, "needs epsilon_start"),
        ({"epsilon_start": 0.01}, "must be larger than ε"),
        ({"epsilon_start": -1.0}, "positive number"),
        ({"epsilon_start": 1.0, "annealing_iterations": 1}, "≥ 2"),
    ],
)
def test_epsilon_scaling_rejects_bad_settings(kwargs, pattern):
    x, c = random_problem()
    with pytest.raises(ValueError, match=pattern):
        sinkhorn.sinkhorn(Problem(Geometry.squared_euclidean(x, c, 0.1)), 10, **kwargs)


def test_free_column_marginal_is_soft_kmeans():
    x, c = random_problem(m=16, k=5)
    epsilon = 0.2
    problem = Problem(Geometry.squared_euclidean(x, c, epsilon), None)
    out = sinkhorn.sinkhorn(problem, iterations=10)
    cost = sinkhorn.squared_euclidean(x, c)
    softmax = tf.nn.softmax(-cost / epsilon, axis=1).numpy()
    np.testing.assert_allclose(out.assignments.numpy(), softmax, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.plan.numpy(), softmax / 16, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.g.numpy(), 0.0)
    assert float(out.column_error) == 0.0


def test_small_epsilon_is_finite_in_float32_and_approaches_exact_ot():
    """exp(−C/ε) would underflow to 0 here (C/ε up to ~10⁴); the log domain does not."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2)).astype(np.float32) * 3
    c = rng.normal(size=(6, 2)).astype(np.float32) * 3
    problem = Problem(Geometry.squared_euclidean(x, c, epsilon=1e-3))
    assert float(tf.reduce_max(problem.geometry.cost)) / 1e-3 > 1e3
    out = sinkhorn.sinkhorn(problem, iterations=300)
    plan = out.plan.numpy()
    assert np.isfinite(plan).all() and np.isfinite(out.f.numpy()).all() and np.isfinite(out.g.numpy()).all()
    np.testing.assert_allclose(plan.sum(axis=1), 1 / 6, atol=1e-5)
    # m = k with uniform marginals: exact OT is a permutation (an assignment problem).
    rows, cols = linear_sum_assignment(problem.geometry.cost.numpy())
    exact = np.zeros((6, 6))
    exact[rows, cols] = 1 / 6
    np.testing.assert_allclose(plan, exact, atol=1e-3)


def test_stop_gradient_plan_gives_the_plan_as_gradient_of_the_cost():
    x, c = random_problem(m=10, k=3)
    cost = tf.constant(sinkhorn.squared_euclidean(x, c))
    with tf.GradientTape() as tape:
        tape.watch(cost)
        out = sinkhorn.sinkhorn(Problem(Geometry(cost, 0.5)), 100, stop_gradient_plan=True)
    np.testing.assert_allclose(tape.gradient(out.transport_cost, cost).numpy(), out.plan.numpy(), rtol=1e-6)


def test_unrolled_gradient_of_the_regularised_cost_is_the_plan_at_convergence():
    """Envelope theorem: d/dC [min_P ⟨P,C⟩ − εH(P)] = P*. Autodiff through the loop agrees."""
    x, c = random_problem(m=10, k=3)
    cost = tf.constant(sinkhorn.squared_euclidean(x, c))
    with tf.GradientTape() as tape:
        tape.watch(cost)
        out = sinkhorn.sinkhorn(Problem(Geometry(cost, 0.5), (0.5, 0.3, 0.2)), 300)
    gradient = tape.gradient(out.regularized_cost, cost).numpy()
    np.testing.assert_allclose(gradient, out.plan.numpy(), atol=2e-5)


def test_solver_runs_in_a_tf_function_with_a_dynamic_batch():
    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def solve(x):
        return sinkhorn.sinkhorn(Problem(Geometry.squared_euclidean(x, tf.eye(3), 0.1)), 20).plan

    for m in (4, 9):
        plan = solve(tf.random.normal((m, 3))).numpy()
        np.testing.assert_allclose(plan.sum(axis=1), 1 / m, atol=1e-6)


def test_proportions_given_as_a_tensor_in_a_graph_are_normalised_and_checked():
    """In a graph the values are unknown when the problem is built: they are normalised when it runs
    (shares summing to 2 made an infeasible problem, column error 1) and refused if not positive."""
    x = tf.constant(np.random.default_rng(0).normal(size=(30, 3)), tf.float32)

    @tf.function
    def column_sums(p):
        return tf.reduce_sum(sinkhorn.sinkhorn(Problem(Geometry.squared_euclidean(x, tf.eye(3), 0.3), p), 500).plan, 0)

    np.testing.assert_allclose(column_sums(tf.constant([1.0, 0.6, 0.4])).numpy(), [0.5, 0.3, 0.2], atol=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="proportions must all be > 0"):
        column_sums(tf.constant([1.0, 0.0, 0.4]))


# --------------------------------------------------------------------------- the model
def imbalanced_blobs(sizes=(600, 360, 240), dim=8, distance=8.0, seed=0):
    """Separable Gaussian blobs whose true proportions are 0.5, 0.3, 0.2."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), dim))
    centers *= distance / np.linalg.norm(centers[0] - centers[1])
    x = np.concatenate([rng.normal(size=(n, dim)) + c for n, c in zip(sizes, centers)]).astype(np.float32)
    y = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(len(y))
    return x[order], y[order]


def train_ot(x, steps, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = OTClustering(backbone="mlp", hidden_units=64, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed).repeat().batch(100, drop_remainder=True)
    history = model.fit(dataset, epochs=2, steps_per_epoch=steps // 2, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def size_constrained():
    x, y = imbalanced_blobs()
    model, history = train_ot(x, steps=400, n_clusters=3, proportions=(0.5, 0.3, 0.2))
    return x, y, model, history


def test_size_constraint_predicted_cluster_sizes_follow_the_proportions(size_constrained):
    from ddc_tf.evaluation import accuracy

    x, y, model, history = size_constrained
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (len(x), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    sizes = np.bincount(probabilities.argmax(axis=1), minlength=3) / len(x)
    # Cluster j receives fraction b_j: the constraint fixes which cluster is which size.
    np.testing.assert_allclose(sizes, [0.5, 0.3, 0.2], atol=0.05)
    assert accuracy(y, probabilities.argmax(axis=1)) > 0.95
    assert all(np.isfinite(v).all() for v in history.values())


def test_uniform_proportions_force_equal_sizes_on_the_same_data():
    """The sizes come from the constraint, not the data: uniform b splits 50/30/20 data evenly."""
    x, _ = imbalanced_blobs()
    model, _ = train_ot(x, steps=200, n_clusters=3)
    sizes = np.bincount(model.predict(x, verbose=0).argmax(axis=1), minlength=3) / len(x)
    np.testing.assert_allclose(sizes, [1 / 3] * 3, atol=0.07)


def test_evaluate_reports_the_transport_cost_as_loss_independent_of_batch_order(size_constrained):
    x, y, model, _ = size_constrained
    shuffled = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    by_class = model.evaluate(x[np.argsort(y, kind="stable")], batch_size=100, verbose=0, return_dict=True)
    assert set(shuffled) >= {"loss", "l1", "l2", "l3", "entropy"}
    np.testing.assert_allclose(shuffled["loss"], shuffled["l1"] + model.reconstruction_weight * shuffled["l2"], rtol=1e-5)
    np.testing.assert_allclose(shuffled["loss"], by_class["loss"], rtol=1e-4)
    assert shuffled["l3"] < 0.1  # sizes over the whole pass are near the target


def test_save_load_round_trip(size_constrained, tmp_path):
    x, _, model, _ = size_constrained
    path = tmp_path / "ot.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, OTClustering)
    assert loaded.proportions == pytest.approx((0.5, 0.3, 0.2))
    np.testing.assert_allclose(loaded.column_potential.numpy(), model.column_potential.numpy())
    np.testing.assert_allclose(loaded.predict(x[:200], verbose=0), model.predict(x[:200], verbose=0), atol=1e-6)
    loaded.fit(x[:200], batch_size=100, epochs=1, verbose=0)  # the optimizer came back too


def test_epsilon_scaling_is_a_model_setting_that_trains_and_round_trips():
    x, _ = imbalanced_blobs(sizes=(100, 100, 100))
    model = OTClustering(3, backbone="mlp", hidden_units=16, epsilon_start=1.0, annealing_iterations=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=100, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    restored = OTClustering.from_config(model.get_config())
    assert (restored.epsilon_start, restored.annealing_iterations) == (1.0, 8)
    assert OTClustering.from_config(OTClustering(3, backbone="mlp").get_config()).epsilon_start is None
    with pytest.raises(ValueError, match="must be larger than ε"):
        OTClustering(3, backbone="mlp", epsilon=0.1, epsilon_start=0.05)


def test_free_proportions_model_predicts_soft_kmeans():
    x, _ = imbalanced_blobs(sizes=(100, 100, 100))
    model = OTClustering(3, backbone="mlp", hidden_units=16, proportions=None, epsilon=0.3)
    model.build((None, x.shape[1]))
    z = model.latent(x[:50])
    cost = sinkhorn.squared_euclidean(z, model.centroids)
    np.testing.assert_allclose(model(x[:50]).numpy(), tf.nn.softmax(-cost / 0.3).numpy(), atol=1e-6)
    hidden, logits = model.hidden_and_logits(x[:50])  # pre-softmax scores (guided backprop)
    assert hidden.shape == (50, 16)
    np.testing.assert_allclose(logits.numpy(), -cost.numpy() / 0.3, rtol=1e-5, atol=1e-5)
    config = model.get_config()
    assert config["proportions"] is None
    assert OTClustering.from_config(config).proportions is None


def test_parse_proportions():
    assert parse_proportions("uniform", 4) == (0.25,) * 4
    assert parse_proportions(None, 3) is None and parse_proportions("free", 3) is None
    assert parse_proportions((5, 3, 2), 3) == pytest.approx((0.5, 0.3, 0.2))
    with pytest.raises(ValueError, match="for 3 clusters"):
        parse_proportions((0.5, 0.5), 3)
    with pytest.raises(ValueError, match="free"):
        parse_proportions(None, 3, allow_free=False)


def test_mixed_precision_keeps_the_ot_head_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x, _ = imbalanced_blobs(sizes=(100, 100, 100))
    model = OTClustering(3, backbone="mlp", hidden_units=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logs = model.fit(x, batch_size=100, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"]).all()
    assert model(x[:10]).dtype == tf.float32 and model.latent(x[:10]).dtype == tf.float32


@pytest.mark.slow
def test_cli_fit_method_ot_with_proportions(tmp_path, capsys):
    from ddc_tf.cli import main

    x, y = imbalanced_blobs(sizes=(150, 90, 60))
    np.savez(tmp_path / "blobs.npz", x=x, y=y)
    out = tmp_path / "out"
    code = main([
        "fit", "--data", str(tmp_path / "blobs.npz"), "--method", "ot", "--proportions", "0.5,0.3,0.2",
        "--epsilon", "0.05", "--steps", "30", "--runs", "3", "--selector", "loss", "--out", str(out), "--quiet",
    ])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["method"] == "ot"
    assert results["config"]["proportions"] == pytest.approx([0.5, 0.3, 0.2])
    assert results["vote"] is not None and len(results["runs"]) == 3
    assert results["best"]["loss"] == min(r["loss"] for r in results["runs"])
    assert isinstance(keras.models.load_model(out / "model.keras"), OTClustering)
    assert "OT (best)" in capsys.readouterr().out
