"""Guided backpropagation (Springenberg et al. 2014) for trained DDC models (paper Fig. 11).

Guided backpropagation explains one output of a network by the gradient of that output
with respect to the input, computed with a modified backward pass through every ReLU:
a gradient passes a ReLU only where the ReLU's *input* was positive (the ordinary ReLU
rule) **and** the incoming gradient is positive. What remains highlights the pixels that
push the chosen output up.

Here the output is the **pre-softmax score** (logit) of a chosen cluster. The guided
ReLUs live in a **copy** of the model (rebuilt from its config, same weights); the model
you pass in is never modified, so it keeps training and predicting as before.

Which ReLUs are replaced: every ``keras.layers.ReLU`` layer with default arguments
(the paper's conv and mlp backbones and the hidden head use these: ``relu1``, ``relu2``,
``hidden/relu``) and every layer whose ``activation`` is ``keras.activations.relu``
(e.g. ``Dense(..., activation="relu")`` in a custom backbone). A ReLU written as a plain
``tf.nn.relu`` call inside a custom layer cannot be found and keeps its ordinary gradient.

Example:
    >>> gbp = GuidedBackprop(model)                       # model: a trained ddc_tf.DDC
    >>> saliency, clusters = gbp.saliency(data.x[:10])    # w.r.t. each point's own cluster
    >>> saliency.shape == data.x[:10].shape
    True
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ddc_tf.models import ClusteringModel
from ddc_tf.models.base import model_input_shape

__all__ = ["guided_relu", "guided_model", "GuidedBackprop", "guided_backprop", "plain_gradients"]


@tf.custom_gradient
def guided_relu(x: tf.Tensor) -> tuple[tf.Tensor, Any]:
    """ReLU whose gradient is ``dy`` where ``x > 0`` and ``dy > 0``, else 0."""
    y = tf.nn.relu(x)

    def grad(dy: tf.Tensor) -> tf.Tensor:
        zero = tf.zeros_like(dy)
        return tf.where((x > 0) & (dy > 0), dy, zero)

    return y, grad


def _is_default_relu_layer(layer: keras.layers.Layer) -> bool:
    if not isinstance(layer, keras.layers.ReLU):
        return False
    max_value = getattr(layer, "max_value", None)
    return (
        (max_value is None or not np.isfinite(float(max_value)))
        and float(getattr(layer, "negative_slope", 0.0) or 0.0) == 0.0
        and float(getattr(layer, "threshold", 0.0) or 0.0) == 0.0
    )


def _guide_relus(model: keras.layers.Layer) -> int:
    """Swap the ReLUs of ``model`` (in place) for :func:`guided_relu`; return how many."""
    replaced = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if _is_default_relu_layer(layer):
            layer.call = lambda inputs, *args, **kwargs: guided_relu(inputs)
            replaced += 1
        elif isinstance(layer, keras.layers.ReLU):
            raise ValueError(
                f"layer {layer.name!r} is a ReLU with max_value/negative_slope/threshold set; "
                "guided backpropagation supports plain ReLUs only"
            )
        elif getattr(layer, "activation", None) is keras.activations.relu:
            layer.activation = guided_relu
            replaced += 1
    return replaced


def _check_model(model: Any) -> None:
    if not isinstance(model, ClusteringModel):
        raise TypeError(
            "model must be a ddc_tf clustering model (DDC, OTClustering or DCAN: guided "
            f"backpropagation needs its pre-softmax scores), got {type(model).__name__}"
        )
    if not model.built:
        raise ValueError("the model is not built yet: call it on a batch (or train it) first")


def guided_model(model: keras.Model, input_shape: tuple[int, ...]) -> keras.Model:
    """A copy of ``model`` with the same weights whose ReLUs backpropagate guidedly.

    Args:
        model: a built DDC-style model (``hidden_and_logits``, ``get_config``/``from_config``).
        input_shape: shape of one input, without the batch axis, e.g. ``(64,)`` or ``(28, 28, 1)``.

    Returns:
        The copy. ``model`` itself is not touched.

    Raises:
        ValueError: the model has no ReLU that can be replaced, or the copy's weights do not
            line up with the original's.
    """
    _check_model(model)
    built_for = model_input_shape(model)
    if built_for is not None and tuple(input_shape) != built_for:
        raise ValueError(f"{model.name} takes inputs of shape {built_for}, got {tuple(input_shape)}")
    clone = model.__class__.from_config(model.get_config())
    clone.build((None, *tuple(input_shape)))
    if len(clone.weights) != len(model.weights):
        raise ValueError(
            f"the copy of {model.name} has {len(clone.weights)} weights, the model {len(model.weights)}"
        )
    for target, source in zip(clone.weights, model.weights):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(f"weight {source.path}: shape {source.shape} vs copy {target.shape}")
        target.assign(source)
    if _guide_relus(clone) == 0:
        raise ValueError(f"{model.name} has no ReLU layer to guide")
    return clone


def _cluster_indices(clusters: Any, logits: tf.Tensor) -> tf.Tensor:
    n, k = int(logits.shape[0]), int(logits.shape[1])
    if clusters is None:
        return tf.argmax(logits, axis=1, output_type=tf.int32)
    c = np.asarray(clusters)
    if c.ndim == 0:
        c = np.full(n, int(c))
    if c.shape != (n,) or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"clusters must be an int or ({n},) integers, got shape {c.shape} dtype {c.dtype}")
    if c.min() < 0 or c.max() >= k:
        raise ValueError(f"clusters must lie in 0..{k - 1}, got {c.min()}..{c.max()}")
    return tf.constant(c, tf.int32)


def _score_gradients(model: keras.Model, x: Any, clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, logits = model.hidden_and_logits(x, training=False)
        logits = tf.cast(logits, tf.float32)
        idx = _cluster_indices(clusters, logits)
        score = tf.gather(logits, idx, axis=1, batch_dims=1)  # (n,) chosen pre-softmax scores
        total = tf.reduce_sum(score)  # points are independent in inference mode
    return tape.gradient(total, x).numpy(), idx.numpy()


def _check_x(model: keras.Model, x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (n, *input_shape), got shape {x.shape}")
    return x


def plain_gradients(model: keras.Model, x: Any, clusters: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary gradients of the chosen clusters' pre-softmax scores w.r.t. the inputs.

    Same arguments and return values as :meth:`GuidedBackprop.saliency`; for comparison.
    """
    _check_model(model)
    return _score_gradients(model, _check_x(model, x), clusters)


class GuidedBackprop:
    """Guided backpropagation for one trained model (the copy is made once, lazily).

    Args:
        model: a trained DDC model (conv or mlp backbone, or a custom backbone using ReLU
            layers). It is not modified; rebuild the explainer if its weights change.
    """

    def __init__(self, model: keras.Model) -> None:
        _check_model(model)
        self.model = model
        self._guided: keras.Model | None = None
        self._input_shape: tuple[int, ...] | None = None

    def guided(self, input_shape: tuple[int, ...]) -> keras.Model:
        """The guided copy for inputs of shape ``input_shape`` (no batch axis)."""
        if self._guided is None or self._input_shape != tuple(input_shape):
            self._guided = guided_model(self.model, input_shape)
            self._input_shape = tuple(input_shape)
        return self._guided

    def saliency(self, x: Any, clusters: Any = None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Guided gradients of the chosen clusters' pre-softmax scores w.r.t. ``x``.

        Args:
            x: ``(n, *input_shape)`` inputs, scaled as in training.
            clusters: ``None`` (each point's own, most probable cluster), one int for all
                points, or ``(n,)`` ints.
            batch_size: points per backward pass.

        Returns:
            ``saliency`` with the shape of ``x`` (float32) and the ``(n,)`` clusters explained.
        """
        x = _check_x(self.model, x)
        guided = self.guided(x.shape[1:])
        if clusters is not None and np.ndim(clusters) == 1 and len(clusters) != len(x):
            raise ValueError(f"clusters has {len(clusters)} entries for {len(x)} inputs")
        grads, chosen = [], []
        for start in range(0, len(x), batch_size):
            part = None if clusters is None else (
                clusters if np.ndim(clusters) == 0 else np.asarray(clusters)[start : start + batch_size]
            )
            g, c = _score_gradients(guided, x[start : start + batch_size], part)
            grads.append(g)
            chosen.append(c)
        return np.concatenate(grads).astype(np.float32), np.concatenate(chosen)


def guided_backprop(model: keras.Model, x: Any, clusters: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """One-shot :meth:`GuidedBackprop.saliency` (makes a fresh guided copy of ``model``)."""
    return GuidedBackprop(model).saliency(x, clusters)
