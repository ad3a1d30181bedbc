"""A trained model applied to every point of a data set, in order (no training here).

``infer`` and ``predict_assignments`` are re-exported by ``ddc_tf.experiments.training``;
they live here so that modules training builds on (``ddc_tf.experiments.distill``) can use
them without importing the training loop.
"""

from __future__ import annotations

import numpy as np

from ddc_tf.data import ArrayData, to_dataset
from ddc_tf.models import ClusteringModel

__all__ = ["infer", "predict_assignments"]


def infer(model: ClusteringModel, data: ArrayData, batch_size: int = 256, *, hidden: bool = False) -> np.ndarray:
    """Every point of ``data``, in order, through ``model`` with batch norm in inference mode.

    Returns:
        float32 cluster probabilities ``(n, k)``, or with ``hidden=True`` the hidden
        representation ``(n, hidden_units)``.
    """
    dataset = to_dataset(data, batch_size=batch_size, shuffle=False, with_labels=False)
    # Eager, batch by batch: a traced function per model (Keras' predict included) is traced
    # anew for every run of a protocol, which costs more than it saves and makes TensorFlow
    # warn about frequent retracing.
    forward = model.embed if hidden else model
    return np.concatenate([np.asarray(forward(x, training=False)) for x in dataset], axis=0).astype(np.float32)


def predict_assignments(model: ClusteringModel, data: ArrayData, batch_size: int = 256) -> np.ndarray:
    """Cluster probabilities ``(n, k)`` float32 for every point of ``data``, in order."""
    return infer(model, data, batch_size)
