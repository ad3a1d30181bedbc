"""The DDC Keras model: backbone → hidden representation → soft cluster assignments.

``DDC`` trains itself: ``model.fit(dataset)`` runs :meth:`DDC.train_step`, which computes
the DDC loss (``ddc_tf.losses.ddc_loss``) on the batch's hidden representation and
assignments and updates the weights. Labels in the dataset, if any, are ignored.

Example:
    >>> import ddc_tf, keras
    >>> dataset, data = ddc_tf.data.load("digits", batch_size=100)
    >>> model = ddc_tf.DDC(n_clusters=10, backbone="mlp")
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> model.fit(dataset, epochs=5)
    >>> probabilities = model.predict(data.x)          # (n, 10)
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import keras
import tensorflow as tf

from ddc_tf import losses
from ddc_tf import checks
from ddc_tf.checks import non_negative_number, positive_number
from ddc_tf.models import networks
from ddc_tf.models.base import ClusteringModel, num_replicas, parse_proportions

__all__ = ["DDC", "KERNEL_MODES"]

#: How the kernel is formed under ``tf.distribute`` with several replicas (see ``DDC``).
KERNEL_MODES = ("global", "local")


@keras.saving.register_keras_serializable(package="ddc_tf")
class DDC(ClusteringModel):
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
        proportions: ``"uniform"`` (the paper's ``l2``, which favours clusters of equal
            size) or k positive numbers (normalised to sum to 1): the clusters' expected
            shares of the points, for the size-aware ``l2`` of
            :func:`ddc_tf.losses.orthogonality` (smallest when cluster i holds the share π_i;
            README "Beating k-means", item 5).
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
        neighbor_weight: weight w4 of the neighbour-consistency term
            (:func:`ddc_tf.losses.neighbor_consistency`) when ``fit`` is given batches that
            pair every point with one of its input-space neighbours
            (``to_dataset(..., neighbors=...)``; ``TrainConfig(neighbors=k)``). Plain batches
            train the paper's loss whatever this is.
        balance_weight: weight w5 of the balance term on those same batches
            (:func:`ddc_tf.losses.cluster_balance`: ``log k`` − the entropy of the batch's
            mean assignment, SCAN's guard against the consistency term emptying clusters);
            ``None``: ``DEFAULT_BALANCE_WEIGHT``. It pulls the cluster sizes towards equal,
            so it helps where the clusters are of similar size and costs where they are not
            (README, "Beating k-means", item 12).
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Call:
        ``model(x)`` → ``(batch, n_clusters)`` float32 cluster probabilities (softmax).

    Metrics shown by ``fit``/``evaluate``: ``loss`` (the weighted total), ``l1``, ``l2``, ``l3``;
    ``balance`` and ``neighbors`` (the consistency term) too when training on neighbour
    pairs, where the gradient step minimises
    ``loss + neighbor_weight · neighbors + balance_weight · balance``.

    Example:
        >>> import ddc_tf, keras
        >>> dataset, data = ddc_tf.data.load("digits", batch_size=100, drop_remainder=True, repeat=True)
        >>> model = ddc_tf.DDC(n_clusters=10, backbone="mlp")
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))  # compile() alone: the paper's 1e-5 for the MLP
        >>> history = model.fit(dataset, steps_per_epoch=100, epochs=3, verbose=0)
        >>> clusters = model.predict(data.x, verbose=0).argmax(axis=1)  # (1797,)
        >>> model.save("digits.keras")  # keras.models.load_model("digits.keras") after import ddc_tf
    """

    METHOD = "ddc"
    TERM_LABELS = {"l1": "separation/compactness", "l2": "orthogonality", "l3": "simplex corners"}
    TERM_DESCRIPTIONS = {
        "l1": "Cauchy-Schwarz divergence of the assignments in the hidden kernel space",
        "l2": "orthogonality: mean off-diagonal entry of A A^T",
        "l3": "Cauchy-Schwarz divergence of the simplex-corner affinities",
    }
    #: ``balance_weight`` when none is given.
    DEFAULT_BALANCE_WEIGHT: ClassVar[float] = 0.0

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
        neighbor_weight: float | None = None,
        proportions: str | Sequence[float] = "uniform",
        balance_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_clusters, backbone, hidden_units, input_dropout, neighbor_weight, **kwargs)
        self.balance_weight = non_negative_number(
            self.DEFAULT_BALANCE_WEIGHT if balance_weight is None else balance_weight, "balance_weight"
        )
        self.balance_tracker = keras.metrics.Mean(name="balance")
        if sigma_mode not in losses.SIGMA_MODES:
            raise ValueError(f"sigma_mode={sigma_mode!r}; expected one of {losses.SIGMA_MODES}")
        self.rel_sigma = positive_number(rel_sigma, "rel_sigma")
        self.sigma_mode = sigma_mode
        self.loss_weights = checks.loss_weights(loss_weights)
        shares = parse_proportions(proportions, self.n_clusters, allow_free=False)
        #: None for uniform proportions (the paper's l2, computed exactly as before).
        self.proportions = None if isinstance(proportions, str) else shares
        if kernel not in KERNEL_MODES:
            raise ValueError(f"kernel={kernel!r}; expected one of {KERNEL_MODES}")
        self.kernel = kernel
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

    def build_head(self, input_shape: tuple[int | None, ...]) -> None:
        self.logits_layer.build((None, self.hidden_units))
        self.softmax.build((None, self.n_clusters))

    def hidden_and_logits(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Forward pass to the hidden representation and the pre-softmax scores.

        Args:
            x: ``(batch, *input_shape)`` inputs, scaled as in training.
            training: batch-norm (and input dropout) mode.

        Returns:
            ``hidden`` ``(batch, hidden_units)`` in the compute dtype, and ``logits``
            ``(batch, n_clusters)`` float32.
        """
        hidden = self.trunk(x, training=training)
        return hidden, self.logits_layer(hidden)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Cluster probabilities ``(batch, n_clusters)`` float32."""
        _, logits = self.hidden_and_logits(x, training=training)
        return self.softmax(logits)

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """DDC loss terms of one batch: dict of float32 scalars ``l1, l2, l3, total``.

        Inside a replica context of a multi-replica ``tf.distribute`` strategy with
        ``kernel="global"``, the terms are those of the global batch (hidden
        representations and assignments all-gathered over the replicas; every replica
        gets the same values). Otherwise: this batch's terms.

        Under ``kernel="global"`` every replica computes the same global loss L, and
        all_gather's gradient all-reduces (sums) the upstream gradient, so each replica's
        gradient is R · (its points' share of dL/dθ); the sum over replicas is R · dL/dθ,
        which the base ``train_step``'s division by R makes dL/dθ ("local": the mean of
        the replicas' gradients; checked numerically in tests/test_distribute.py).
        """
        x = self._built_for(x)
        hidden, logits = self.hidden_and_logits(x, training=training)
        return self._terms(hidden, self.softmax(logits))

    def neighbor_training_terms(
        self, x: tf.Tensor, neighbors: tf.Tensor, tape: tf.GradientTape
    ) -> dict[str, tf.Tensor]:
        """The DDC terms of the batch ``x``, the consistency of each point's assignment with
        that of its neighbour (``neighbors``, row by row) and the balance of the points'
        assignments; the objective is ``total + neighbor_weight · neighbors +
        balance_weight · balance`` (the last only when ``balance_weight`` > 0). Points and
        neighbours go through the network in one pass (so batch norm sees both); the kernel
        and the balance are the points' own."""
        x = self._built_for(x)
        both, m = self.paired_inputs(x, neighbors)
        hidden, logits = self.hidden_and_logits(both, training=True)
        assignments = self.softmax(logits)
        terms = self._terms(hidden[:m], assignments[:m])
        terms["balance"] = losses.cluster_balance(assignments[:m])
        terms = self.with_neighbor_term(terms, losses.neighbor_consistency(assignments[:m], assignments[m:]))
        if self.balance_weight:
            terms["objective"] = terms["objective"] + self.balance_weight * terms["balance"]
        return terms

    def extra_metrics(self) -> list[keras.metrics.Metric]:
        return [self.balance_tracker]

    def _terms(self, hidden: tf.Tensor, assignments: tf.Tensor) -> dict[str, tf.Tensor]:
        """``losses.ddc_loss`` of a batch's hidden representation and assignments (of the
        global batch under a multi-replica strategy with ``kernel="global"``)."""
        if self.kernel == "global" and num_replicas() > 1:
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
            proportions=self.proportions,
        )

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            rel_sigma=self.rel_sigma,
            sigma_mode=self.sigma_mode,
            loss_weights=list(self.loss_weights),
            kernel=self.kernel,
            proportions="uniform" if self.proportions is None else list(self.proportions),
            balance_weight=self.balance_weight,
        )
        return config
