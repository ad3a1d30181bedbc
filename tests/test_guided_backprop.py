"""Guided backpropagation (paper Fig. 11) on tiny DDC models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ddc_tf.models import DDC
from ddc_tf.viz.guided_backprop import GuidedBackprop, guided_backprop, guided_model, plain_gradients


def _mlp(seed: int = 0) -> DDC:
    keras.utils.set_random_seed(seed)
    model = DDC(3, backbone="mlp", hidden_units=8)
    model.build((None, 6))
    return model


@pytest.fixture(scope="module")
def mlp_and_x():
    model = _mlp()
    x = np.random.default_rng(0).random((4, 6), dtype=np.float32)
    return model, x


def test_forward_output_unchanged_and_original_untouched(mlp_and_x):
    model, x = mlp_and_x
    before = model(x).numpy()
    weights = [w.numpy().copy() for w in model.weights]
    layer_calls = {id(l): l.call for l in model._flatten_layers()}
    copy = guided_model(model, x.shape[1:])
    assert copy is not model
    np.testing.assert_allclose(copy(x).numpy(), before, rtol=1e-6, atol=1e-6)
    guided_backprop(model, x)
    np.testing.assert_array_equal(model(x).numpy(), before)
    for w, saved in zip(model.weights, weights):
        np.testing.assert_array_equal(w.numpy(), saved)
    # the original's ReLU layers keep their ordinary call
    assert all(l.call == layer_calls[id(l)] for l in model._flatten_layers())
    plain, _ = plain_gradients(model, x)
    plain_again, _ = plain_gradients(model, x)
    np.testing.assert_array_equal(plain, plain_again)


def test_guided_differs_from_plain(mlp_and_x):
    model, x = mlp_and_x
    guided, clusters = GuidedBackprop(model).saliency(x)
    plain, plain_clusters = plain_gradients(model, x)
    assert guided.shape == x.shape and guided.dtype == np.float32
    np.testing.assert_array_equal(clusters, plain_clusters)
    np.testing.assert_array_equal(clusters, model(x).numpy().argmax(axis=1))
    assert np.abs(guided - plain).max() > 1e-4
    # a chosen cluster for every point
    fixed, chosen = GuidedBackprop(model).saliency(x, clusters=2)
    assert (chosen == 2).all() and np.isfinite(fixed).all()


def test_negative_relu_inputs_give_zero_guided_gradient():
    model = _mlp(1)
    dense1 = model.backbone.get_layer("dense1")
    dense1.kernel.assign(np.zeros(dense1.kernel.shape, np.float32))
    dense1.bias.assign(-np.ones(dense1.bias.shape, np.float32))  # relu1 sees only -1
    x = np.random.default_rng(1).random((3, 6), dtype=np.float32)
    guided, _ = guided_backprop(model, x)
    np.testing.assert_array_equal(guided, np.zeros_like(x))


def test_conv_model_saliency_shape():
    keras.utils.set_random_seed(0)
    model = DDC(2, backbone="conv", hidden_units=16)
    model.build((None, 16, 16, 1))
    x = np.random.default_rng(2).random((2, 16, 16, 1), dtype=np.float32)
    saliency, clusters = GuidedBackprop(model).saliency(x, clusters=[0, 1])
    assert saliency.shape == x.shape and list(clusters) == [0, 1]
    assert np.abs(saliency).sum() > 0


def test_clear_errors(mlp_and_x):
    model, x = mlp_and_x
    with pytest.raises(ValueError, match="clusters must lie in"):
        guided_backprop(model, x, clusters=7)
    with pytest.raises(ValueError, match="3 entries for 4 inputs"):
        guided_backprop(model, x, clusters=[0, 1, 2])
    with pytest.raises(TypeError, match="ddc_tf clustering model"):
        GuidedBackprop("not a model")
    with pytest.raises(ValueError, match="not built"):
        GuidedBackprop(DDC(2, backbone="mlp"))
