"""``FusedAdam`` (ddc_tf/models/optimizers.py): Keras' Adam with one fused kernel per variable —
the same update as a NumPy Adam and as ``keras.optimizers.Adam`` (schedules, clipping, weight
decay, loss scaling, XLA), Keras' own update where the kernel does not apply, far fewer ops."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.models.optimizers import FusedAdam

SHAPES = [(5, 3), (3,)]


def _problem(steps: int = 12, seed: int = 0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    gradients = [[rng.normal(size=shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]
    return start, gradients


def _train(optimizer, start, gradients, *, jit_compile: bool = False) -> list[np.ndarray]:
    variables = [keras.Variable(w, dtype=w.dtype) for w in start]
    optimizer.build(variables)

    @tf.function(jit_compile=jit_compile)
    def apply(grads):
        optimizer.apply(grads, variables)

    for grads in gradients:
        apply([tf.constant(g) for g in grads])
    return [np.asarray(v.numpy()) for v in variables]


def _numpy_adam(start, gradients, lr=1e-2, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Adam as Keras states it (m, v as running means; the step's bias correction in α), in float64."""
    weights = [w.astype(np.float64) for w in start]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(gradients, start=1):
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * (1 - beta_1)
            v[i] += (g * g - v[i]) * (1 - beta_2)
            weights[i] -= alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return weights


def test_fused_adam_is_adam_as_numpy_computes_it():
    start, gradients = _problem()
    got = _train(FusedAdam(learning_rate=1e-2), start, gradients)
    for g, want in zip(got, _numpy_adam(start, gradients)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [
    {},
    {"global_clipnorm": 0.5, "weight_decay": 0.01},
    {"clipnorm": 0.3, "beta_1": 0.5, "epsilon": 1e-3},
    {"learning_rate": keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=12)},
], ids=["plain", "global_clipnorm_weight_decay", "clipnorm_betas", "cosine"])
def test_fused_adam_follows_keras_adam(options):
    """Keras' apply (schedules, clipping, decoupled weight decay) stays; the update agrees to rounding."""
    start, gradients = _problem(steps=20, seed=1)
    options = {"learning_rate": 1e-2, **options}
    fused = _train(FusedAdam(**options), start, gradients)
    keras_adam = _train(keras.optimizers.Adam(**options), start, gradients)
    for a, b in zip(fused, keras_adam):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


def test_fused_adam_compiles_with_xla():
    start, gradients = _problem(steps=5, seed=2)
    compiled = _train(FusedAdam(learning_rate=1e-2), start, gradients, jit_compile=True)
    for a, b in zip(compiled, _train(FusedAdam(learning_rate=1e-2), start, gradients)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_under_a_loss_scale_the_update_is_adams():
    """mixed_float16 wraps the optimizer in a LossScaleOptimizer (distillation does): the scaled
    gradients are unscaled before the fused update."""
    start, gradients = _problem(steps=6, seed=3)
    fused = _train(keras.optimizers.LossScaleOptimizer(FusedAdam(learning_rate=1e-2)), start, gradients)
    keras_adam = _train(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(learning_rate=1e-2)), start,
                        gradients)
    for a, b in zip(fused, keras_adam):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


def test_where_the_kernel_does_not_apply_keras_updates_exactly():
    start, gradients = _problem(steps=6, seed=4)
    for a, b in zip(_train(FusedAdam(learning_rate=1e-2, amsgrad=True), start, gradients),
                    _train(keras.optimizers.Adam(learning_rate=1e-2, amsgrad=True), start, gradients)):
        np.testing.assert_array_equal(a, b)
    start, gradients = _problem(steps=6, seed=5, dtype=np.float16)
    for a, b in zip(_train(FusedAdam(learning_rate=1e-2), start, gradients),
                    _train(keras.optimizers.Adam(learning_rate=1e-2), start, gradients)):
        assert a.dtype == np.float16
        np.testing.assert_array_equal(a, b)
    # a sparse gradient (an embedding's gather): Keras' own update, as keras.optimizers.Adam
    table = np.random.default_rng(6).normal(size=(6, 2)).astype(np.float32)
    out = []
    for optimizer in (FusedAdam(learning_rate=1e-2), keras.optimizers.Adam(learning_rate=1e-2)):
        variable = keras.Variable(table)
        optimizer.build([variable])
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.gather(variable.value, [0, 2, 2]) ** 2)
            gradient = tape.gradient(loss, variable.value)
            assert isinstance(gradient, tf.IndexedSlices)
            optimizer.apply([gradient], [variable])
        out.append(variable.numpy())
    np.testing.assert_array_equal(*out)


def _update_ops(optimizer) -> int:
    variables = [keras.Variable(np.zeros(shape, np.float32)) for shape in SHAPES * 4]
    optimizer.build(variables)
    apply = tf.function(lambda grads: optimizer.apply(grads, variables))
    graph = apply.get_concrete_function([tf.TensorSpec(v.shape, tf.float32) for v in variables]).graph
    return len(graph.get_operations())


def test_the_fused_update_traces_a_fraction_of_the_ops():
    """Why it exists: fewer ops to trace per run and to launch per step."""
    fused, keras_adam = _update_ops(FusedAdam()), _update_ops(keras.optimizers.Adam())
    assert fused < keras_adam / 2, (fused, keras_adam)


def test_a_model_compiled_with_it_saves_and_loads_with_its_state(tmp_path):
    from ddc_tf.models import DDC

    x = np.random.default_rng(7).normal(size=(40, 4)).astype(np.float32)
    model = DDC(n_clusters=3, backbone="mlp", hidden_units=8)
    model.build((None, 4))
    model.compile()  # the paper's optimizer: FusedAdam
    assert isinstance(model.optimizer, FusedAdam)
    model.fit(x, batch_size=20, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is FusedAdam
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
