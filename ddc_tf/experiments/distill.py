"""Distil a consensus clustering of many runs into one network (DDC-DISTILLED).

DDC-ENSEMBLE (:func:`ddc_tf.selection.ensemble`) labels the training points better than
any single run on vector data, but it is transductive: it has no network to export or serve.
:func:`distill` fine-tunes the protocol's chosen run on the ensemble's cluster ids (renamed
to the run's own ids with the Hungarian algorithm, so the network only has to move the
points it disagrees on) with the softmax cross-entropy, for a few hundred mini-batches. The
result is one ordinary clustering model — it predicts, embeds, saves and exports like any
run — that reproduces the ensemble on the training points and carries it to new data.

No label enters: the targets are the ensemble's cluster ids, computed from the runs' own
cluster ids only.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from ddc_tf import evaluation
from ddc_tf.checks import positive_int
from ddc_tf.data import ArrayData, to_dataset
from ddc_tf.experiments.inference import predict_assignments
from ddc_tf.experiments.resume import seed_generators
from ddc_tf.models import ClusteringModel
from ddc_tf.models.optimizers import FusedAdam

__all__ = ["distill", "DEFAULT_DISTILL_LEARNING_RATE"]

#: Adam's learning rate for the distillation steps (whatever rate the runs trained with:
#: the paper's MLP rate 1e-5 would barely move the network in a few hundred steps).
DEFAULT_DISTILL_LEARNING_RATE = 1e-3
#: Mini-batches per call of the compiled loop (fewer in the last call).
DISTILL_STEPS_PER_CALL = 50


def distill(
    model: ClusteringModel,
    data: ArrayData,
    targets: np.ndarray,
    *,
    steps: int = 300,
    batch_size: int = 100,
    learning_rate: float = DEFAULT_DISTILL_LEARNING_RATE,
    seed: int = 0,
) -> ClusteringModel:
    """Fine-tune ``model`` in place so that its clusters follow ``targets``.

    Args:
        model: a trained clustering model (its weights are changed).
        data: the points ``targets`` label, ``n`` of them.
        targets: ``(n,)`` integer cluster ids (e.g. DDC-ENSEMBLE's); they are renamed to
            ``model``'s own cluster ids first (Hungarian alignment with its predictions), so
            the ids ``model`` predicts stay where they were wherever they agree.
        steps: mini-batches of cross-entropy training (≥ 1).
        batch_size: points per mini-batch (the last partial batch of a pass is dropped
            when ``n ≥ batch_size``).
        learning_rate: Adam's learning rate (> 0).
        seed: seeds the mini-batch order and dropout.

    Returns:
        ``model``, trained ``steps`` mini-batches on ``(data.x, aligned targets)`` with
        ``softmax_cross_entropy(logits, target)``; batch norm statistics are updated as in
        training.
    """
    steps = positive_int(steps, "steps")
    batch_size = positive_int(batch_size, "batch_size")
    if not (isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    targets = evaluation._check_labels(targets, "targets")
    if targets.shape[0] != data.n:
        raise ValueError(f"targets has {targets.shape[0]} cluster ids, the data {data.n} points")
    n_targets = np.unique(targets).size
    if n_targets > model.n_clusters:
        raise ValueError(f"targets has {n_targets} clusters, the model {model.n_clusters}")
    own = predict_assignments(model, data).argmax(axis=1)
    aligned = evaluation.align_labels(own, targets)
    if aligned.max() >= model.n_clusters:  # a target cluster the model never predicts: free ids
        free = iter(sorted(set(range(model.n_clusters)) - set(np.unique(aligned[aligned < model.n_clusters]))))
        aligned = aligned.copy()
        for cluster in np.unique(aligned[aligned >= model.n_clusters]):
            aligned[aligned == cluster] = next(free)

    keras.utils.set_random_seed(seed)
    # the model's own generators (input dropout's) carry the state its training left them in,
    # which a model read back from disk does not have: start them from the seed too
    for index, generator in enumerate(seed_generators(model)):
        start = np.random.default_rng([seed, index]).integers(2**31)
        generator.state.assign(np.asarray([start, 0], dtype=generator.state.dtype))
    stream = to_dataset(
        dataclasses.replace(data, y=aligned.astype(np.int64)),
        batch_size=batch_size, shuffle=True, seed=seed, drop_remainder=data.n >= batch_size,
        with_labels=True, repeat=True,
    )
    optimizer = FusedAdam(learning_rate)
    if keras.mixed_precision.dtype_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    variables = list(model.trainable_variables)

    def step(x: tf.Tensor, y: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            _, logits = model.hidden_and_logits(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=tf.cast(logits, tf.float32)))
        grads = tape.gradient(optimizer.scale_loss(loss), variables)
        # parts that do not shape the logits (a decoder, a discriminator) get no gradient
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    @tf.function
    def steps_of(batches: tf.data.Iterator, count: tf.Tensor) -> None:
        """``count`` mini-batches in one call: Python's per-step round trip (a few ms, most
        of a small network's step) is paid once per call, the same steps in the same order."""
        for _ in tf.range(count):
            x, y = next(batches)
            step(x, y)

    optimizer.build(variables)  # its slots exist before the loop traces
    batches = iter(stream)
    for done in range(0, steps, DISTILL_STEPS_PER_CALL):
        steps_of(batches, tf.constant(min(DISTILL_STEPS_PER_CALL, steps - done)))
    return model
