"""Neighbour consistency and the balance term beside it: the loss terms against NumPy (value and gradient), the neighbour
search against a brute-force NumPy search, the paired batches of ``to_dataset``, the
training steps of DDC, OT and DCAN on them, and the configuration that turns it on."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from ddc_tf import DCAN, DDC, OTClustering
from ddc_tf.data import ArrayData, to_dataset
from ddc_tf.data.neighbors import check_neighbors, nearest_neighbors
from ddc_tf.experiments import protocol
from ddc_tf.experiments.training import TrainConfig, build_model, train_run
from ddc_tf.losses.neighbors import EPS_CONSISTENCY, cluster_balance, neighbor_consistency, neighbor_distance
from ddc_tf.models.base import ClusteringModel


def numpy_consistency(a: np.ndarray, b: np.ndarray) -> float:
    """−mean_q log(max(Σ_c a_qc b_qc, ε)), written out independently of the TF version."""
    total = 0.0
    for row_a, row_b in zip(a.astype(np.float64), b.astype(np.float64)):
        total += -np.log(max(float(np.dot(row_a, row_b)), EPS_CONSISTENCY))
    return total / len(a)


def softmax_rows(rng: np.random.Generator, m: int, k: int, scale: float = 2.0) -> np.ndarray:
    z = rng.normal(scale=scale, size=(m, k))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def blobs(n: int = 90, k: int = 3, d: int = 5, seed: int = 0) -> ArrayData:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.normal(scale=4.0, size=(k, d))[y] + rng.normal(scale=0.5, size=(n, d))
    return ArrayData(x=x.astype(np.float32), y=y.astype(np.int64), name="blobs", kind="vector",
                     raw_dtype="float32", scale=1.0)


# ----------------------------------------------------------------- the loss term
@pytest.mark.parametrize("k", [2, 10])
def test_consistency_matches_numpy(k):
    rng = np.random.default_rng(k)
    a, b = softmax_rows(rng, 50, k), softmax_rows(rng, 50, k)
    assert float(neighbor_consistency(a, b)) == pytest.approx(numpy_consistency(a, b), rel=1e-5)
    # agreeing one-hot rows cost nothing; disagreeing ones cost the floor's bound
    one_hot = np.eye(k, dtype=np.float32)[rng.integers(0, k, 50)]
    assert float(neighbor_consistency(one_hot, one_hot)) == pytest.approx(0.0, abs=1e-7)
    flipped = np.roll(one_hot, 1, axis=1)
    assert float(neighbor_consistency(one_hot, flipped)) == pytest.approx(-np.log(EPS_CONSISTENCY), rel=1e-5)


def test_consistency_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    logits_a = tf.constant(rng.normal(size=(6, 4)), tf.float64)
    logits_b = tf.constant(rng.normal(size=(6, 4)), tf.float64)

    def f(la, lb):
        return neighbor_consistency(tf.nn.softmax(la), tf.nn.softmax(lb))

    # float32 inside the term: compare analytic and numeric gradients at float32 tolerance
    analytic, numeric = tf.test.compute_gradient(f, [logits_a, logits_b], delta=1e-3)
    for got, want in zip(analytic, numeric):
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-3)


def test_consistency_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        neighbor_consistency(tf.ones([4, 3]) / 3, tf.ones([5, 3]) / 3)
    with pytest.raises(ValueError, match=r"\(m, k\)"):
        neighbor_consistency(tf.ones([4]), tf.ones([4]))


def numpy_balance(a: np.ndarray) -> float:
    """log k + Σ_j p̄_j log p̄_j with p̄ the column means, written out with loops."""
    m, k = a.shape
    means = [sum(float(a[q, j]) for q in range(m)) / m for j in range(k)]
    return float(np.log(k) + sum(p * np.log(p) for p in means if p > 0))


@pytest.mark.parametrize("k", [2, 20])
def test_balance_matches_numpy_and_its_bounds(k):
    rng = np.random.default_rng(k)
    a = softmax_rows(rng, 60, k)
    assert float(cluster_balance(a)) == pytest.approx(numpy_balance(a), rel=1e-4, abs=1e-6)
    # all points in one cluster: log k; every cluster equally full: 0; an empty cluster counts 0 log 0 = 0
    assert float(cluster_balance(np.eye(k, dtype=np.float32)[np.zeros(60, int)])) == pytest.approx(np.log(k), rel=1e-6)
    assert float(cluster_balance(np.eye(k, dtype=np.float32)[np.arange(60 * k) % k])) == pytest.approx(0.0, abs=1e-6)
    half = np.eye(k, dtype=np.float32)[np.arange(60) % (k // 2)]
    assert float(cluster_balance(half)) == pytest.approx(numpy_balance(half), rel=1e-5)


def test_balance_gradient_matches_finite_differences():
    logits = tf.constant(np.random.default_rng(2).normal(size=(8, 5)), tf.float64)
    analytic, numeric = tf.test.compute_gradient(lambda z: cluster_balance(tf.nn.softmax(z)), [logits], delta=1e-3)
    np.testing.assert_allclose(analytic[0], numeric[0], rtol=2e-2, atol=2e-3)
    with pytest.raises(ValueError, match=r"\(m, k\)"):
        cluster_balance(tf.ones([4]))


def numpy_distance(z: np.ndarray, z_nbr: np.ndarray) -> float:
    """mean_q Σ_j (z_qj − z'_qj)², written out with loops."""
    total = 0.0
    for row, other in zip(z.astype(np.float64), z_nbr.astype(np.float64)):
        total += sum((a - b) ** 2 for a, b in zip(row, other))
    return total / len(z)


def test_latent_distance_matches_numpy_and_its_gradient():
    rng = np.random.default_rng(3)
    z, z_nbr = rng.normal(size=(20, 4)).astype(np.float32), rng.normal(size=(20, 4)).astype(np.float32)
    assert float(neighbor_distance(z, z_nbr)) == pytest.approx(numpy_distance(z, z_nbr), rel=1e-5)
    assert float(neighbor_distance(z, z)) == 0.0
    analytic, numeric = tf.test.compute_gradient(
        neighbor_distance, [tf.constant(z[:5], tf.float64), tf.constant(z_nbr[:5], tf.float64)], delta=1e-3)
    for got, want in zip(analytic, numeric):
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-3)
    with pytest.raises(ValueError, match="differ in shape"):
        neighbor_distance(tf.ones([4, 3]), tf.ones([4, 2]))
    with pytest.raises(ValueError, match=r"\(m, d\)"):
        neighbor_distance(tf.ones([4]), tf.ones([4]))


# ----------------------------------------------------------------- the neighbour search
def brute_force_cosine_neighbors(x: np.ndarray, k: int) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float64)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def test_nearest_neighbors_match_a_brute_force_search_dense_sparse_and_images():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    want = brute_force_cosine_neighbors(x, 4)
    vectors = ArrayData(x=x, y=None, name="v", kind="vector", raw_dtype="float32", scale=1.0)
    np.testing.assert_array_equal(nearest_neighbors(vectors, 4, metric="cosine"), want)
    sparse = ArrayData(x=scipy.sparse.csr_matrix(x), y=None, name="s", kind="vector", raw_dtype="float32", scale=1.0)
    np.testing.assert_array_equal(nearest_neighbors(sparse, 4, metric="cosine"), want)
    images = ArrayData(x=x.reshape(40, 2, 3, 1), y=None, name="i", kind="image", raw_dtype="float32", scale=1.0)
    np.testing.assert_array_equal(nearest_neighbors(images, 4, metric="cosine"), want)
    # cosine: scaling a point does not change who its neighbours are
    scaled = ArrayData(x=x * rng.uniform(0.1, 10, size=(40, 1)).astype(np.float32), y=None, name="v",
                       kind="vector", raw_dtype="float32", scale=1.0)
    np.testing.assert_array_equal(nearest_neighbors(scaled, 4, metric="cosine"), want)
    # Euclidean (the default for signed inputs): the nearest rows by squared distance
    d2 = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    np.testing.assert_array_equal(nearest_neighbors(vectors, 4), np.argsort(d2, axis=1, kind="stable")[:, :4])


def test_a_point_is_never_its_own_neighbour_and_empty_rows_pair_with_themselves():
    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 0]], np.float32)  # duplicates, a zero row
    data = ArrayData(x=scipy.sparse.csr_matrix(x), y=None, name="dup", kind="vector", raw_dtype="float32", scale=1.0)
    found = nearest_neighbors(data, 2)
    assert found.shape == (6, 2) and found.dtype == np.int64
    for i in range(5):
        assert i not in found[i]
    assert set(found[0]) == {1, 2} and found[3][0] == 4 and found[4][0] == 3
    np.testing.assert_array_equal(found[5], [5, 5])


def test_neighbour_search_and_graph_checks_name_the_problem():
    data = blobs(n=6)
    with pytest.raises(ValueError, match="need k < n"):
        nearest_neighbors(data, 6)
    with pytest.raises(ValueError, match="k \\(neighbours per point\\)"):
        nearest_neighbors(data, 0)
    with pytest.raises(ValueError, match=r"\(n=6, k ≥ 1\)"):
        check_neighbors(np.zeros((5, 2), np.int64), 6)
    with pytest.raises(ValueError, match="integer row indices"):
        check_neighbors(np.zeros((6, 2)), 6)
    with pytest.raises(ValueError, match=r"outside \[0, 6\)"):
        check_neighbors(np.full((6, 2), 6), 6)


# ----------------------------------------------------------------- paired batches
def test_paired_batches_draw_each_partner_from_the_points_neighbours():
    data = blobs()
    neighbors = nearest_neighbors(data, 5)
    rows = {x.tobytes(): i for i, x in enumerate(data.x)}
    ds = to_dataset(data, batch_size=30, seed=1, drop_remainder=True, repeat=True, neighbors=neighbors)
    drawn = set()
    for batch in ds.take(12):
        assert set(batch) == {"inputs", "neighbors"} and batch["inputs"].shape == (30, 5)
        for x, partner in zip(batch["inputs"].numpy(), batch["neighbors"].numpy()):
            i, j = rows[x.tobytes()], rows[partner.tobytes()]
            assert j in neighbors[i]
            drawn.add((i, int(np.nonzero(neighbors[i] == j)[0][0])))
    assert len({column for _, column in drawn}) == 5  # every neighbour rank gets drawn


def test_paired_stream_resumes_with_the_same_partners():
    data = blobs()
    neighbors = nearest_neighbors(data, 5)
    kwargs = dict(batch_size=30, seed=2, drop_remainder=True, repeat=True, neighbors=neighbors)
    straight = [b["neighbors"].numpy() for b in to_dataset(data, **kwargs).take(7)]
    resumed = [b["neighbors"].numpy() for b in to_dataset(data, start_batch=4, **kwargs).take(3)]
    for got, want in zip(resumed, straight[4:]):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------- the training step
def test_training_terms_on_pairs_add_the_weighted_consistency():
    keras.utils.set_random_seed(0)
    x = tf.constant(blobs().x[:30])
    model = DDC(n_clusters=3, backbone="mlp", hidden_units=16, neighbor_weight=0.7)
    model.build((None, 5))
    with tf.GradientTape() as tape:
        # a batch paired with itself: batch norm sees the same mean and variance as the batch
        # alone, so the DDC terms equal the plain training terms
        paired = model.neighbor_training_terms(x, x, tape)
    plain = model.loss_terms(x, training=True)
    for name in ("l1", "l2", "l3", "total"):
        assert float(paired[name]) == pytest.approx(float(plain[name]), rel=1e-4, abs=1e-6)
    a = model(x, training=True).numpy()
    assert float(paired["neighbors"]) == pytest.approx(numpy_consistency(a, a), rel=1e-3)
    assert float(paired["objective"]) == pytest.approx(float(paired["total"]) + 0.7 * float(paired["neighbors"]), rel=1e-6)
    assert float(paired["balance"]) == pytest.approx(numpy_balance(a), rel=1e-3, abs=1e-5)  # logged, weight 0
    balanced = DDC(n_clusters=3, backbone="mlp", hidden_units=16, neighbor_weight=0.7, balance_weight=0.4)
    balanced.build((None, 5))
    balanced.set_weights(model.get_weights())
    with tf.GradientTape() as tape:
        weighted = balanced.neighbor_training_terms(x, x, tape)
    assert float(weighted["objective"]) == pytest.approx(
        float(paired["total"]) + 0.7 * float(paired["neighbors"]) + 0.4 * float(paired["balance"]), rel=1e-5)
    assert DDC.from_config(balanced.get_config()).balance_weight == 0.4
    with pytest.raises(ValueError, match="balance_weight"):
        DDC(n_clusters=3, balance_weight=-0.1)


def test_fit_on_pairs_logs_the_term_and_evaluate_scores_the_points_only():
    data = blobs()
    neighbors = nearest_neighbors(data, 5)
    keras.utils.set_random_seed(0)
    model = DDC(n_clusters=3, backbone="mlp", hidden_units=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = to_dataset(data, batch_size=30, seed=0, drop_remainder=True, repeat=True, neighbors=neighbors)
    history = model.fit(ds, steps_per_epoch=5, epochs=2, verbose=0)  # an unbuilt model builds from the dict spec
    assert set(history.history) == {"loss", "l1", "l2", "l3", "balance", "neighbors"}
    assert all(np.isfinite(history.history["neighbors"]))
    logs = model.evaluate(to_dataset(data, batch_size=30, with_labels=False), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "l1", "l2", "l3"}
    assert model.predict(ds.take(1), verbose=0).shape == (30, 3)
    restored = DDC.from_config(model.get_config())
    assert restored.neighbor_weight == 1.0


@pytest.mark.parametrize("cls", [OTClustering, DCAN])
def test_siblings_train_on_pairs_with_the_latent_distance(cls):
    data = blobs()
    keras.utils.set_random_seed(0)
    model = cls(n_clusters=3, backbone="mlp", hidden_units=16, neighbor_weight=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = to_dataset(data, batch_size=30, seed=0, drop_remainder=True, repeat=True, neighbors=nearest_neighbors(data, 5))
    history = model.fit(ds, steps_per_epoch=3, epochs=2, verbose=0)
    assert "neighbors" in history.history and all(np.isfinite(history.history["neighbors"]))
    assert "neighbors" not in model.evaluate(to_dataset(data, batch_size=30, with_labels=False), verbose=0,
                                             return_dict=True)
    # the term is the points' and the partners' latent distance (DCAN: over 2σ²), added to the objective
    batch = next(iter(ds))
    with tf.GradientTape() as tape:
        terms = model.neighbor_training_terms(batch["inputs"], batch["neighbors"], tape)
    z = model.latent(tf.concat([batch["inputs"], batch["neighbors"]], 0), training=True).numpy()
    scale = 2.0 * model.prior_scale**2 if cls is DCAN else 1.0
    assert float(terms["neighbors"]) == pytest.approx(numpy_distance(z[:30], z[30:]) / scale, rel=1e-4)
    base = terms["total"]  # DCAN's objective is the encoder's loss, not the reported JS estimate
    if cls is DCAN:
        base = terms["encoder_loss"] + model.reconstruction_weight * terms["reconstruction"]
    assert float(terms["objective"]) == pytest.approx(float(base) + 0.5 * float(terms["neighbors"]), rel=1e-5)
    assert cls.from_config(model.get_config()).neighbor_weight == 0.5


def test_a_model_without_the_hook_refuses_paired_batches():
    class Plain(ClusteringModel):
        def build_head(self, input_shape):
            self.logits = keras.layers.Dense(self.n_clusters)
            self.logits.build((None, self.hidden_units))

        def hidden_and_logits(self, x, training=False):
            hidden = self.trunk(x, training=training)
            return hidden, self.logits(hidden)

        def loss_terms(self, x, training=False):
            self._built_for(x)
            p = self(x, training=training)
            total = -tf.reduce_mean(tf.reduce_sum(p * tf.math.log(p + 1e-9), 1))
            return {"total": total, "l1": total, "l2": total, "l3": total}

    data = blobs()
    model = Plain(n_clusters=3, backbone="mlp", hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = to_dataset(data, batch_size=30, drop_remainder=True, repeat=True, neighbors=nearest_neighbors(data, 3))
    with pytest.raises(ValueError, match="does not train on neighbour pairs"):
        model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    for cls in (DDC, OTClustering, DCAN):
        with pytest.raises(ValueError, match="neighbor_weight"):
            cls(n_clusters=3, neighbor_weight=-1.0)


# ----------------------------------------------------------------- configuration
def test_config_turns_the_term_on_and_checks_it():
    config = TrainConfig(n_clusters=3, neighbors=4, neighbor_weight=0.5)
    assert config.to_dict()["neighbors"] == 4 and config.to_dict()["neighbor_weight"] == 0.5
    plain = TrainConfig(n_clusters=3).to_dict()  # runs of the paper's loss keep their signature
    assert "neighbors" not in plain and "neighbor_weight" not in plain
    assert TrainConfig(n_clusters=3, method="ot", neighbors=4, neighbor_weight=0.3).to_dict()["neighbor_weight"] == 0.3
    # no weight given: the method's measured default (DDC and OT 1, DCAN 0.1), in the config and the model
    for method, weight in (("ddc", 1.0), ("ot", 1.0), ("dcan", 0.1)):
        resolved = TrainConfig(n_clusters=3, method=method, neighbors=4)
        assert resolved.neighbor_weight == weight and resolved.to_dict()["neighbor_weight"] == weight
        assert build_model(resolved, blobs()).neighbor_weight == weight
    # the balance term: DDC only, beside the neighbour term; off (0) runs keep their signature
    assert TrainConfig(n_clusters=3, neighbors=4).balance_weight == DDC.DEFAULT_BALANCE_WEIGHT
    assert "balance_weight" not in TrainConfig(n_clusters=3, neighbors=4, balance_weight=0).to_dict()
    with pytest.raises(ValueError, match=r"balance_weight=0.5 weighs the balance term, which trains beside the "
                                         r"neighbour term, off here \(neighbors=0"):
        TrainConfig(n_clusters=3, balance_weight=0.5)  # no pairs: no term, refused rather than dropped
    balanced = TrainConfig(n_clusters=3, neighbors=4, balance_weight=0.5)
    assert balanced.to_dict()["balance_weight"] == 0.5 and build_model(balanced, blobs()).balance_weight == 0.5
    with pytest.raises(ValueError, match="balance_weight applies to method 'ddc'"):
        TrainConfig(n_clusters=3, method="ot", neighbors=4, balance_weight=0.5)
    with pytest.raises(ValueError, match="balance_weight"):
        TrainConfig(n_clusters=3, neighbors=4, balance_weight=-1)
    with pytest.raises(ValueError, match="one device"):
        TrainConfig(n_clusters=3, neighbors=4, strategy="mirrored")
    with pytest.raises(ValueError, match="neighbors must be an integer ≥ 0"):
        TrainConfig(n_clusters=3, neighbors=-1)
    with pytest.raises(ValueError, match="neighbor_weight"):
        TrainConfig(n_clusters=3, neighbors=4, neighbor_weight=float("nan"))
    with pytest.raises(ValueError, match=r"needs \(90, 4\)"):
        train_run(blobs(), TrainConfig(n_clusters=3, neighbors=4, steps=2, batch_size=30), seed=0, verbose=0,
                  neighbors=np.zeros((90, 3), np.int64))


def test_protocol_searches_the_neighbours_once_and_not_for_finished_runs(tmp_path, monkeypatch):
    data = blobs()
    calls = []

    def counting(data, k, **kwargs):
        calls.append(k)
        return nearest_neighbors(data, k)

    monkeypatch.setattr(protocol, "nearest_neighbors", counting)
    config = TrainConfig(n_clusters=3, steps=6, batch_size=30, neighbors=4)
    protocol.run_protocol(data, config, runs=3, out_dir=tmp_path, verbose=0)
    assert calls == [4]
    record = json.loads((tmp_path / "runs" / "seed_0" / "run.json").read_text())
    assert "neighbors" in record["history"] and record["signature"]["config"]["neighbors"] == 4
    protocol.run_protocol(data, config, runs=3, out_dir=tmp_path, verbose=0)  # all runs finished
    assert calls == [4]


def test_signed_inputs_use_euclidean_distance_non_negative_ones_the_angle():
    from ddc_tf.data.neighbors import neighbor_metric

    # a ring around a small circle: same angle, different cluster — the angle would pair them
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    inner = np.stack([np.cos(angles), np.sin(angles)], 1) * 0.3
    outer = np.stack([np.cos(angles), np.sin(angles)], 1) * 2.0
    rings = ArrayData(x=np.concatenate([inner, outer]).astype(np.float32), y=None, name="rings",
                      kind="vector", raw_dtype="float32", scale=1.0)
    assert neighbor_metric(rings) == "euclidean"
    found = nearest_neighbors(rings, 2)
    assert ((found < 40) == (np.arange(80) < 40)[:, None]).all()  # every neighbour on its own ring
    assert (nearest_neighbors(rings, 2, metric="cosine") % 40 == np.arange(80)[:, None] % 40).any(axis=1).all()
    counts = ArrayData(x=np.abs(rings.x), y=None, name="counts", kind="vector", raw_dtype="float32", scale=1.0)
    assert neighbor_metric(counts) == "cosine"
    with pytest.raises(ValueError, match="metric="):
        nearest_neighbors(rings, 2, metric="manhattan")


# float32 with -m slow: bf16 is the case where a float32 loss must be kept (the default run keeps under 10 minutes)
@pytest.mark.parametrize("policy", [pytest.param("float32", marks=pytest.mark.slow), "mixed_bfloat16"])
def test_paired_training_compiles_with_xla_and_keeps_a_float32_loss(policy):
    keras.mixed_precision.set_global_policy(policy)  # conftest resets it afterwards
    data = blobs()
    keras.utils.set_random_seed(0)
    model = DDC(n_clusters=3, backbone="mlp", hidden_units=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    ds = to_dataset(data, batch_size=30, drop_remainder=True, repeat=True, neighbors=nearest_neighbors(data, 4))
    history = model.fit(ds, steps_per_epoch=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["neighbors"][0]) and np.isfinite(history.history["loss"][0])
    batch = next(iter(ds))
    with tf.GradientTape() as tape:
        terms = model.neighbor_training_terms(batch["inputs"], batch["neighbors"], tape)
    assert all(value.dtype == tf.float32 for value in terms.values())


def test_neighbour_halves_of_another_size_are_refused():
    """Row i of each half is one pair: a half of another size would be broadcast (one neighbour
    for every point) or misaligned."""
    x = tf.zeros((10, 4))
    with pytest.raises(ValueError, match="10 points but 1 neighbours"):
        ClusteringModel.paired_inputs(x, tf.zeros((1, 4)))

    @tf.function(input_signature=[tf.TensorSpec((None, 4)), tf.TensorSpec((None, 4))])
    def paired(a, b):
        return ClusteringModel.paired_inputs(a, b)[0]

    assert paired(x, tf.zeros((10, 4))).shape == (20, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="pairs row by row"):
        paired(x, tf.zeros((1, 4)))


def test_the_protocol_names_non_finite_data_before_the_neighbour_search():
    data = blobs()
    x = data.x.copy()
    x[3, 1] = np.nan
    bad = ArrayData(x=x, y=data.y, name="toy", kind="vector", raw_dtype="float32", scale=1.0)
    config = TrainConfig(n_clusters=3, backbone="mlp", steps=2, batch_size=30, neighbors=3)
    for runs_at_once in (1, 2):
        with pytest.raises(ValueError, match="toy: 1 non-finite value"):
            protocol.run_protocol(bad, config, runs=2, runs_at_once=runs_at_once)
