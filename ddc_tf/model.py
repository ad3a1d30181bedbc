"""The DDC Keras model: backbone → hidden representation → soft cluster assignments.

``DDC`` trains itself: ``model.fit(dataset)`` runs :meth:`DDC.train_step`, which computes
the DDC loss (``ddc_tf.losses.ddc_loss``) on the batch's hidden representation and
assignments and updates the weights. Labels in the dataset, if any, are ignored.

Example:
    >>> import ddc_tf
    >>> dataset, data = ddc_tf.data.load("digits", batch_size=100)
    >>> model = ddc_tf.DDC(n_clusters=10, backbone="mlp")
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> model.fit(dataset, epochs=5)
    >>> probabilities = model.predict(data.x)          # (n, 10)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import tensorflow as tf

from ddc_tf import losses, networks

__all__ = ["DDC", "KERNEL_MODES"]

#: How the kernel is formed under ``tf.distribute`` with several replicas (see ``DDC``).
KERNEL_MODES = ("global", "local")


def _num_replicas() -> int:
    """Replicas in sync when called inside a replica context of a multi-replica strategy, else 1."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return 1
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def _in_multi_worker_mode() -> bool:
    """True under a MultiWorkerMirroredStrategy that spans several workers."""
    if not tf.distribute.has_strategy():
        return False
    strategy = tf.distribute.get_strategy()
    extended = getattr(strategy, "extended", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(extended, "_in_multi_worker_mode", lambda: False)()
    )


def _unpack_inputs(data: Any) -> tf.Tensor:
    """The inputs of a batch that is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


@keras.saving.register_keras_serializable(package="ddc_tf")
class DDC(keras.Model):
    """Deep Divergence-based Clustering (Kampffmeyer et al., Neural Networks 2019).

    Args:
        n_clusters: number of clusters k (≥ 2).
        backbone: ``"conv"`` (the paper's CNN, for images ``(h, w, c)``), ``"mlp"`` (the
            paper's fully connected net, for vectors ``(d,)``), or any ``keras.Layer`` /
            ``keras.Model`` that maps a batch of inputs to features ``(batch, features)``.
        hidden_units: width of the hidden representation (Dense → ReLU → BatchNorm), on
            which the kernel is computed. Default: 100 for ``"conv"``, 500 for ``"mlp"``
            (the paper's networks), 100 for a custom backbone.
        rel_sigma: relative kernel bandwidth (0.15 in the paper).
        sigma_mode: ``"reference"`` (σ² = rel_sigma · median of squared distances; the
            default) or ``"paper"`` (σ = rel_sigma · median distance). See
            :func:`ddc_tf.losses.bandwidth_sq`.
        loss_weights: ``(w1, w2, w3)`` for the terms ``l1, l2, l3``; 0 switches a term off.
        input_dropout: drop this fraction of the input entries during training (a
            ``keras.layers.Dropout`` before the backbone; 0 = off). For sparse vectors such as
            TF-IDF it acts as word dropout: the network cannot carve an arbitrary partition
            from a few terms. Inference is unaffected.
        kernel: how the kernel is formed when training under a ``tf.distribute`` strategy
            with several replicas (ignored on one device). ``"global"`` (default): hidden
            representations and assignments are all-gathered across replicas and the loss
            is computed on the global batch — training is equivalent to one device at the
            global batch size (batch norm then uses global batch statistics too:
            ``synchronized=True`` is set on the model's BatchNormalization layers when it
            is built under a multi-replica strategy). ``"local"``: each replica's kernel on
            its own batch, the loss averaged over replicas (cheaper, but a different
            objective: m/R points per kernel). See ``docs/distributed.md``.
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Call:
        ``model(x)`` → ``(batch, n_clusters)`` float32 cluster probabilities (softmax).

    Metrics shown by ``fit``/``evaluate``: ``loss`` (the weighted total), ``l1``, ``l2``, ``l3``.
    """

    def __init__(
        self,
        n_clusters: int,
        backbone: str | keras.layers.Layer = "conv",
        hidden_units: int | None = None,
        rel_sigma: float = losses.DEFAULT_REL_SIGMA,
        sigma_mode: str = losses.DEFAULT_SIGMA_MODE,
        loss_weights: Sequence[float] = (1.0, 1.0, 1.0),
        kernel: str = "global",
        input_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if int(n_clusters) != n_clusters or n_clusters < 2:
            raise ValueError(f"n_clusters must be an integer ≥ 2, got {n_clusters!r}")
        if sigma_mode not in losses.SIGMA_MODES:
            raise ValueError(f"sigma_mode={sigma_mode!r}; expected one of {losses.SIGMA_MODES}")
        if not (math.isfinite(rel_sigma) and rel_sigma > 0):
            raise ValueError(f"rel_sigma must be a finite number > 0, got {rel_sigma!r}")
        loss_weights = tuple(float(w) for w in loss_weights)
        if (
            len(loss_weights) != 3
            or not all(math.isfinite(w) and w >= 0 for w in loss_weights)
            or not any(loss_weights)
        ):
            raise ValueError(
                f"loss_weights must be three finite non-negative numbers, not all 0, got {loss_weights}"
            )
        self.n_clusters = int(n_clusters)
        self.rel_sigma = float(rel_sigma)
        self.sigma_mode = sigma_mode
        self.loss_weights = loss_weights
        if kernel not in KERNEL_MODES:
            raise ValueError(f"kernel={kernel!r}; expected one of {KERNEL_MODES}")
        self.kernel = kernel
        if not (isinstance(input_dropout, (int, float)) and 0.0 <= input_dropout < 1.0):
            raise ValueError(f"input_dropout must be a number in [0, 1), got {input_dropout!r}")
        self.input_dropout = float(input_dropout)
        self.dropout_layer = (
            keras.layers.Dropout(self.input_dropout, name="input_dropout") if self.input_dropout else None
        )

        self.backbone_name, self.backbone = networks.backbone_layer(backbone)
        if hidden_units is None:
            hidden_units = networks.DEFAULT_HIDDEN_UNITS.get(self.backbone_name, 100)
        self.hidden_units = int(hidden_units)
        self.hidden_layer = networks.hidden_head(self.hidden_units)
        # Logits and softmax stay in float32 under mixed precision (SPEC §1.7).
        self.logits_layer = keras.layers.Dense(
            self.n_clusters,
            kernel_initializer=networks.KERNEL_INITIALIZER,
            dtype="float32",
            name="logits",
        )
        self.softmax = keras.layers.Softmax(dtype="float32", name="assignments")

        if self.kernel == "global" and tf.distribute.has_strategy() and (
            tf.distribute.get_strategy().num_replicas_in_sync > 1
        ):
            # Global batch statistics in batch norm, so that the hidden representation (and
            # hence the kernel) is the one a single device computes on the global batch.
            for layer in self._flatten_layers(include_self=False):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = {name: keras.metrics.Mean(name=name) for name in losses.TERM_NAMES}

    # ----------------------------------------------------------------- building
    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(batch, *input_shape[1:])``."""
        input_shape = networks.build_trunk(
            self.backbone_name, self.backbone, self.hidden_layer, input_shape
        )
        self.logits_layer.build((None, self.hidden_units))
        self.softmax.build((None, self.n_clusters))
        self.built = True

    # ----------------------------------------------------------------- forward
    def hidden_and_logits(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Forward pass to the hidden representation and the pre-softmax scores.

        Args:
            x: ``(batch, *input_shape)`` inputs, scaled as in training.
            training: batch-norm mode.

        Returns:
            ``hidden`` ``(batch, hidden_units)`` in the compute dtype, and ``logits``
            ``(batch, n_clusters)`` float32.
        """
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        features = self.backbone(x, training=training)
        hidden = self.hidden_layer(features, training=training)
        return hidden, self.logits_layer(hidden)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Cluster probabilities ``(batch, n_clusters)`` float32."""
        _, logits = self.hidden_and_logits(x, training=training)
        return self.softmax(logits)

    def embed(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The hidden representation ``(batch, hidden_units)`` in float32."""
        hidden, _ = self.hidden_and_logits(x, training=training)
        return tf.cast(hidden, tf.float32)

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """DDC loss terms of one batch: dict of float32 scalars ``l1, l2, l3, total``.

        Inside a replica context of a multi-replica ``tf.distribute`` strategy with
        ``kernel="global"``, the terms are those of the global batch (hidden
        representations and assignments all-gathered over the replicas; every replica
        gets the same values). Otherwise: this batch's terms.
        """
        if not self.built:
            self.build(x.shape)
        hidden, logits = self.hidden_and_logits(x, training=training)
        assignments = self.softmax(logits)
        if self.kernel == "global" and _num_replicas() > 1:
            # One collective for both (and one all-reduce in the backward pass).
            both = tf.concat([tf.cast(hidden, tf.float32), tf.cast(assignments, tf.float32)], axis=1)
            both = tf.distribute.get_replica_context().all_gather(both, axis=0)
            hidden, assignments = both[:, : self.hidden_units], both[:, self.hidden_units :]
        return losses.ddc_loss(
            hidden,
            assignments,
            rel_sigma=self.rel_sigma,
            sigma_mode=self.sigma_mode,
            weights=self.loss_weights,
        )

    # ----------------------------------------------------------------- training
    def compile(self, optimizer: Any = None, **kwargs: Any) -> None:
        """Like ``keras.Model.compile``; ``optimizer=None`` means Adam at the paper's rate
        for the backbone (1e-3 conv, 1e-5 mlp; 1e-3 for a custom backbone)."""
        if optimizer is None:
            optimizer = networks.paper_optimizer(self.backbone_name)
        if kwargs.get("loss") is not None:
            raise ValueError("DDC trains with its own unsupervised loss; do not pass loss=")
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Re-compile after ``keras.models.load_model`` (our ``compile`` is overridden)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, *self.term_trackers.values()]

    def _update_trackers(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(terms["total"])
        for name, tracker in self.term_trackers.items():
            tracker.update_state(terms[name])
        logs = {m.name: m.result() for m in self.metrics}
        if _in_multi_worker_mode():
            # Keras reduces the logs of a multi-worker step with strategy.reduce(MEAN, v,
            # axis=0), which rejects scalars: hand it shape (1,) values (reduced to scalars).
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x = _unpack_inputs(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, training=True)
            loss = terms["total"]
            if self.losses:  # weight regularisers of a custom backbone
                loss = loss + tf.add_n([tf.cast(l, tf.float32) for l in self.losses])
            replicas = _num_replicas()
            if replicas > 1:
                # The optimizer sums gradients over replicas. "local": mean of the replicas'
                # gradients. "global": every replica computes the same global loss L, and
                # all_gather's gradient all-reduces (sums) the upstream gradient, so each
                # replica's gradient is R · (its points' share of dL/dθ); the sum over
                # replicas is R · dL/dθ. Both cases: divide by R (checked numerically in
                # tests/test_distribute.py).
                loss = loss / tf.cast(replicas, loss.dtype)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_trackers(terms)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x = _unpack_inputs(data)
        return self._update_trackers(self.loss_terms(x, training=False))

    def predict_step(self, data: Any) -> tf.Tensor:
        return self(_unpack_inputs(data), training=False)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            n_clusters=self.n_clusters,
            backbone=networks.backbone_to_config(self.backbone_name, self.backbone),
            hidden_units=self.hidden_units,
            rel_sigma=self.rel_sigma,
            sigma_mode=self.sigma_mode,
            loss_weights=list(self.loss_weights),
            kernel=self.kernel,
            input_dropout=self.input_dropout,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DDC":
        return cls(**networks.backbone_from_config(config))
