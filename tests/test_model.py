"""The DDC keras.Model: shapes, backbones, argument checks, fit, config, save/load, XLA, mixed precision.

Everything trains for a handful of steps on tiny synthetic data, so the file runs in
seconds; the "does it actually cluster" test is in test_training.py (digits).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddc_tf import losses
from ddc_tf.models import DDC

K = 3
D = 8


def blobs(n: int = 60, d: int = D, k: int = K, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k well separated Gaussian blobs in d dimensions: float32 x (n, d), int64 y (n,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    x = centres[y] + rng.normal(scale=0.5, size=(n, d))
    return x.astype(np.float32), y.astype(np.int64)


def images(n: int = 8, size: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, size, size, 1)).astype(np.float32)


def make_dataset(x, y=None, batch_size: int = 20) -> tf.data.Dataset:
    """Unshuffled, batched dataset of x or (x, y): the same batches for every fit."""
    items = x if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(items).batch(batch_size, drop_remainder=True)


def new_model(seed: int = 0, **kwargs) -> DDC:
    """A DDC model whose initial weights depend only on ``seed``."""
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("backbone", "mlp")
    kwargs.setdefault("hidden_units", 32)
    return DDC(n_clusters=kwargs.pop("n_clusters", K), **kwargs)


def dense_backbone() -> keras.Sequential:
    return keras.Sequential(
        [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(12, activation="relu")],
        name="my_backbone",
    )


def assert_same_weights(a: keras.Model, b: keras.Model, atol: float = 0.0) -> None:
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        np.testing.assert_allclose(u, v, rtol=0, atol=atol)


# --------------------------------------------------------------------------- forward
@pytest.mark.parametrize(
    "backbone, shape",
    [("conv", (6, 28, 28, 1)), ("mlp", (6, D)), ("mlp", (6, 28, 28, 1))],
    ids=["conv-images", "mlp-vectors", "mlp-images-flattened"],
)
def test_output_is_probabilities_of_shape_n_by_k_in_float32(backbone, shape):
    x = np.random.default_rng(1).uniform(size=shape).astype(np.float32)
    model = new_model(backbone=backbone, hidden_units=None, n_clusters=4)
    out = model(x)
    assert tuple(out.shape) == (6, 4)
    assert out.dtype == tf.float32
    out = out.numpy()
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    # predict agrees with call and is float32 too
    predicted = model.predict(x, verbose=0)
    assert predicted.shape == (6, 4) and predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, out, atol=1e-6)


@pytest.mark.parametrize(
    "backbone, x, expected",
    [
        ("conv", images(4), 100),
        ("mlp", np.zeros((4, D), np.float32), 500),
        (dense_backbone(), np.zeros((4, D), np.float32), 100),
    ],
    ids=["conv", "mlp", "custom"],
)
def test_hidden_units_default_and_embed_shape(backbone, x, expected):
    model = DDC(n_clusters=K, backbone=backbone)
    assert model.hidden_units == expected
    hidden = model.embed(x)
    assert tuple(hidden.shape) == (4, expected)
    assert hidden.dtype == tf.float32


def test_hidden_units_can_be_set():
    model = DDC(n_clusters=K, backbone="mlp", hidden_units=17)
    assert tuple(model.embed(np.zeros((5, D), np.float32)).shape) == (5, 17)


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"n_clusters": 1}, ValueError, "n_clusters"),
        ({"n_clusters": 0}, ValueError, "n_clusters"),
        ({"n_clusters": 2.5}, ValueError, "n_clusters"),
        ({"backbone": "resnet"}, ValueError, "resnet"),
        ({"backbone": 42}, TypeError, "backbone"),
        ({"sigma_mode": "median"}, ValueError, "sigma_mode"),
        ({"rel_sigma": 0.0}, ValueError, "rel_sigma"),
        ({"rel_sigma": float("inf")}, ValueError, "rel_sigma"),
        ({"loss_weights": (1.0, -1.0, 1.0)}, ValueError, "loss_weights"),
        ({"loss_weights": (0.0, 0.0, 0.0)}, ValueError, "loss_weights"),
        ({"loss_weights": (1.0, 1.0)}, ValueError, "loss_weights"),
        # NaN compares False with everything, so "w < 0" alone lets it through
        ({"loss_weights": (float("nan"), 1.0, 1.0)}, ValueError, "loss_weights"),
        ({"loss_weights": (1.0, float("inf"), 1.0)}, ValueError, "loss_weights"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_bad_constructor_arguments_raise_helpful_errors(kwargs, error, pattern):
    kwargs = {"n_clusters": K, "backbone": "mlp", **kwargs}
    with pytest.raises(error, match=pattern):
        DDC(**kwargs)


@pytest.mark.parametrize(
    "x, pattern",
    [(np.zeros((2, 8, 8, 1), np.float32), "16"), (np.zeros((2, 64), np.float32), "mlp")],
    ids=["8x8-images", "vectors"],
)
def test_conv_backbone_refuses_inputs_it_cannot_handle(x, pattern):
    model = DDC(n_clusters=K, backbone="conv")
    with pytest.raises(ValueError, match=pattern):
        model(x)
    with pytest.raises(ValueError, match=pattern):
        DDC(n_clusters=K, backbone="conv").build(x.shape)


def test_compile_refuses_a_supervised_loss():
    model = new_model()
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam", loss="mse")


# --------------------------------------------------------------------------- fit
def test_fit_ignores_labels_and_reports_the_loss_terms():
    x, y = blobs()
    shuffled_y = np.random.default_rng(3).permutation(y)

    def fit(dataset):
        model = new_model(seed=7)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = model.fit(dataset, epochs=2, verbose=0)
        return model, history

    plain, history = fit(make_dataset(x))
    assert set(history.history) == {"loss", "l1", "l2", "l3"}
    for values in history.history.values():
        assert len(values) == 2 and np.all(np.isfinite(values))
    assert plain.optimizer.iterations.numpy() == 2 * (60 // 20)

    # a dataset of (x, y) with labels unrelated to x trains exactly like x alone
    assert not np.array_equal(shuffled_y, y)
    with_shuffled_labels, _ = fit(make_dataset(x, shuffled_y))
    assert_same_weights(plain, with_shuffled_labels)
    # ... and training did move the weights
    fresh = new_model(seed=7)
    fresh.build((None, D))
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), plain.get_weights()))


def test_loss_decreases_during_training():
    x, _ = blobs(n=100)
    dataset = make_dataset(x, batch_size=50)
    model = new_model(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    history = model.fit(dataset.repeat(), epochs=4, steps_per_epoch=10, verbose=0)
    after = model.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    assert after < before - 0.05, (before, after)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_default_optimizer_uses_the_paper_learning_rate():
    for backbone, lr in (("conv", 1e-3), ("mlp", 1e-5)):
        model = DDC(n_clusters=K, backbone=backbone)
        model.compile()
        assert isinstance(model.optimizer, keras.optimizers.Adam)
        assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(lr)


def test_custom_backbone_trains_and_round_trips_through_save(tmp_path):
    x, _ = blobs()
    model = new_model(backbone=dense_backbone(), hidden_units=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build((None, D))
    initial = [w.copy() for w in model.backbone.get_weights()]
    history = model.fit(make_dataset(x), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # the backbone's own weights are trained, not only the head
    assert any(not np.array_equal(a, b) for a, b in zip(initial, model.backbone.get_weights()))

    path = tmp_path / "custom.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, DDC)
    assert loaded.hidden_units == 10
    assert isinstance(loaded.backbone, keras.Sequential)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


class LazyModelBackbone(keras.Model):
    """A backbone written the usual Keras way: sub-layers made in __init__, built on first call,
    no build() and no compute_output_shape()."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(12, activation="relu")
        self.second = keras.layers.Dense(6)

    def call(self, x, training=False):
        return self.second(self.first(x))


class LazyLayerBackbone(keras.layers.Layer):
    """A layer with its own build() but no compute_output_shape()."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 5), initializer="glorot_uniform")

    def call(self, x):
        return keras.ops.relu(keras.ops.matmul(x, self.kernel))


@pytest.mark.parametrize("backbone", [LazyModelBackbone, LazyLayerBackbone])
def test_a_subclassed_backbone_without_build_or_output_shape_trains(backbone):
    x, _ = blobs()
    model = new_model(backbone=backbone(), hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=20, epochs=2, verbose=0)  # built from the data inside fit
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.backbone.trainable_weights, "the backbone's weights exist and are trained"
    assert model.predict(x, verbose=0).shape == (x.shape[0], K)


def test_a_backbone_that_cannot_take_the_inputs_is_named():
    class Broken(keras.layers.Layer):
        def call(self, x):
            return keras.ops.matmul(x, keras.ops.ones((3, 2)))  # expects 3 features

    model = new_model(backbone=Broken(name="broken"))
    with pytest.raises(ValueError, match=r"the backbone 'broken' cannot be called on inputs of shape \(None, 4\)"):
        model.build((None, 4))


# --------------------------------------------------------------------------- config
def test_get_config_from_config_round_trip():
    model = new_model(
        backbone="mlp", hidden_units=24, rel_sigma=0.2, sigma_mode="paper",
        loss_weights=(1.0, 0.0, 0.5), n_clusters=4, name="my_ddc",
    )
    config = model.get_config()
    assert config["n_clusters"] == 4
    assert config["backbone"] == "mlp"
    assert config["hidden_units"] == 24
    assert config["rel_sigma"] == pytest.approx(0.2)
    assert config["sigma_mode"] == "paper"
    assert list(config["loss_weights"]) == [1.0, 0.0, 0.5]

    clone = DDC.from_config(config)
    assert isinstance(clone, DDC)
    assert clone.get_config() == config
    x, _ = blobs(n=10)
    model.build((None, D))
    clone.build((None, D))
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    # the loss settings are live, not only stored
    t_model = model.loss_terms(tf.constant(x))
    t_clone = clone.loss_terms(tf.constant(x))
    np.testing.assert_allclose(float(t_clone["total"]), float(t_model["total"]), rtol=1e-6)



def test_size_aware_l2_proportions_reach_the_loss_and_round_trip():
    x, _ = blobs(n=10)
    model = new_model(n_clusters=3, proportions=(5, 3, 2))  # sizes work: normalised
    assert model.proportions == pytest.approx((0.5, 0.3, 0.2))
    assert new_model(n_clusters=3).proportions is None  # uniform: the paper's l2, unweighted
    config = model.get_config()
    assert config["proportions"] == pytest.approx([0.5, 0.3, 0.2])
    clone = DDC.from_config(config)
    assert clone.proportions == pytest.approx((0.5, 0.3, 0.2))
    plain = new_model(n_clusters=3)
    for m in (model, plain):
        m.build((None, D))
    plain.set_weights(model.get_weights())
    a = model(tf.constant(x))
    assert float(model.loss_terms(tf.constant(x))["l2"]) == pytest.approx(
        float(losses.orthogonality(a, (0.5, 0.3, 0.2))), rel=1e-6)
    assert float(plain.loss_terms(tf.constant(x))["l2"]) == pytest.approx(float(losses.orthogonality(a)), rel=1e-6)
    with pytest.raises(ValueError, match="for 3 clusters"):
        new_model(n_clusters=3, proportions=(0.5, 0.5))
    with pytest.raises(ValueError, match="not available"):
        new_model(n_clusters=3, proportions=None)

def test_from_config_with_a_custom_backbone():
    model = new_model(backbone=dense_backbone(), hidden_units=10)
    model.build((None, D))
    clone = DDC.from_config(model.get_config())
    clone.build((None, D))
    assert isinstance(clone.backbone, keras.Sequential)
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]


# --------------------------------------------------------------------------- save / load
def test_save_load_gives_identical_predictions_and_training_continues(tmp_path):
    x, _ = blobs()
    dataset = make_dataset(x)
    model = new_model(seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(dataset, epochs=2, verbose=0)  # Adam moments and BN statistics are non-trivial

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, DDC)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    # compile state restored: same optimizer, same step count, same learning rate
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 6
    assert float(loaded.optimizer.learning_rate.numpy()) == pytest.approx(3e-3)

    # continuing from the file is the same as continuing in memory (Adam state restored)
    model.fit(dataset, epochs=1, verbose=0)
    history = loaded.fit(dataset, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "l1", "l2", "l3"}
    assert int(loaded.optimizer.iterations.numpy()) == 9
    assert_same_weights(loaded, model, atol=1e-6)


# --------------------------------------------------------------------------- XLA
def test_jit_compile_matches_eager_graph_loss_trajectory():
    x, _ = blobs(n=100)
    dataset = make_dataset(x, batch_size=50).repeat()

    def trajectory(jit: bool) -> list[float]:
        model = new_model(seed=2)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit)
        # one step per "epoch": each history entry is the loss of exactly one batch
        history = model.fit(dataset, epochs=5, steps_per_epoch=1, verbose=0)
        assert model.jit_compile is jit
        return history.history["loss"]

    plain = trajectory(False)
    xla = trajectory(True)
    assert np.all(np.isfinite(xla))
    np.testing.assert_allclose(xla, plain, rtol=1e-4, atol=1e-5)
    assert len(set(np.round(plain, 6))) > 1  # the steps really changed the model


# --------------------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision(policy):
    keras.mixed_precision.set_global_policy(policy)  # conftest resets it afterwards
    compute = policy.split("_")[1]
    x, _ = blobs()
    model = new_model(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build((None, D))
    # the network really runs in low precision ...
    assert model.hidden_layer.compute_dtype == compute
    assert model.backbone.compute_dtype == compute
    # ... while the loss, the assignments and the embedding are float32
    terms = model.loss_terms(tf.constant(x[:20]), training=False)
    for name in ("l1", "l2", "l3", "total"):
        assert terms[name].dtype == tf.float32, name
    assert model.embed(x[:4]).dtype == tf.float32

    history = model.fit(make_dataset(x), epochs=2, verbose=0)
    for values in history.history.values():
        assert np.all(np.isfinite(values))
    result = model.evaluate(make_dataset(x), verbose=0, return_dict=True)
    assert np.isfinite(result["loss"])

    predicted = model.predict(x, verbose=0)
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-3)
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled is (policy == "mixed_float16")
    # the weights moved (gradients were unscaled and applied, not all skipped as non-finite)
    fresh = new_model(seed=0)
    fresh.build((None, D))
    moved = [not np.allclose(a, b) for a, b in zip(fresh.get_weights(), model.get_weights())]
    assert any(moved)
