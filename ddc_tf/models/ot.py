"""Deep clustering by optimal transport with cluster-size constraints (Genevay et al. 2019).

An embedding network maps each input to a point ``z`` in a low-dimensional space that
also holds k learnable centroids. On every mini-batch, the points and the centroids are
matched by entropic optimal transport (:mod:`ddc_tf.losses.sinkhorn`): the row marginal is
uniform over the batch, the column marginal is the target cluster proportions, so the
plan is a soft assignment whose cluster sizes are fixed. The loss is the transport cost
``⟨P, C⟩`` with ``C_ij = ||z_i − c_j||²`` — k-means' distortion under a size constraint —
and it is minimised end-to-end over the network and the centroids, with no pre-training.

The total loss is ``⟨P, C⟩ + λ · reconstruction`` (see below). Choices where the paper's
summary is silent, each a constructor argument (the numbers quoted were measured on
scikit-learn's digits with the MLP at 1 500 steps and 2–3 seeds, and on separable blobs
with 50/30/20 % of the points, 400 steps):

- **No collapse by construction.** A learnable embedding can make the k-means distortion 0
  by sending every point and every centroid to one spot. The embedding therefore ends in
  a batch normalisation *without* learnable scale or shift, divided by ``√embedding_dim``:
  on every training batch the embedding has zero mean and total variance exactly 1, so
  ``⟨P, C⟩`` is the share of the batch's variance left within clusters (0 to about 1,
  scale-free) and ε is in the same units. Default ``embedding_dim = k``.
- **Reconstruction.** Genevay et al. build on an autoencoder (as the soft-k-means method
  they generalise): a decoder mirroring the backbone reconstructs the input from ``z``
  and its error, as a share of the batch's variance, is added with weight λ = 1. Without
  it the network can make *any* partition of the right sizes compact (digits: ACC 0.46
  without, 0.68–0.73 with, at ε = 0.05). ``reconstruction_weight=0`` removes the decoder.
- **ε = 0.01.** Digits ACC over eight weight draws at 1 500–2 000 steps: 0.59–0.83
  (mean 0.67); at 0.05: 0.68 / 0.73; at 0.1: 0.43 / 0.60; at 0.2: 0.48 / 0.51. Up
  to 0.05 the differences are within the seed-to-seed spread; larger ε is worse. Fifty
  Sinkhorn iterations per step, warm-started from the running potential.
- **Gradient.** By default the plan is a constant in the backward pass
  (``stop_gradient_plan=True``): the gradient ``P`` of ``⟨P, C⟩`` is the gradient of the
  entropic OT value at Sinkhorn's fixed point (envelope theorem), and no backward pass runs
  through the iterations. ``False`` differentiates through them. At the defaults the 50
  iterations stop short of the fixed point (column error ≈ 0.13, the plan ≈ 37 % from the
  converged one on training-shaped batches; 200 iterations: 0.009, 5 %;
  ``benchmarks/sinkhorn_convergence.py``): the gradient is the truncated plan's, and each
  batch meets the shares only roughly (the ``size_error`` metric). ε-scaling
  (``epsilon_start=1.0``) gets to 0.021 and 8 % in the same 50 iterations, but clustered no
  better: 10 ACC points lower from scratch on digits, level at the CLI's defaults on digits and
  20news (5 seeds; README, "Sibling losses"), so it is off by default.
- **Which centroid gets which size.** With non-uniform proportions, a centroid that starts
  near a group of the wrong size makes the plan split that group. So (``init_centroids=
  "auto"``) the first training step runs k-means on that batch's hidden representation,
  starts each centroid at the mean embedding of one k-means cluster, and gives the largest
  cluster the largest proportion, and so on by rank (50/30/20 % blobs: ACC 0.99 in 4 of 4
  seeds, against 0.69–0.91 with random centroids). With uniform or free proportions
  random centroids are kept: they trained better on digits.
- **Prediction without a batch.** The batch plan's rows, normalised, are
  ``softmax_j((g_j − C_ij)/ε)`` where ``g`` is the column dual potential. The model keeps
  a running average of ``g`` (like batch-norm statistics), so ``predict`` gives each point
  its assignment independently of the rest of its batch, with the size constraint
  learned in ``g``. With a free column marginal ``g = 0`` and this is soft k-means'
  ``softmax(−C/ε)``. The running ``g`` also warm-starts Sinkhorn at every step.
- **Selection loss.** ``evaluate`` reports the transport cost of the assignments
  ``predict`` makes, ``mean_i Σ_j Q_ij C_ij`` (batch-norm in inference mode), plus λ times
  the reconstruction error, rather than re-running Sinkhorn on each evaluation batch: a
  batch cut from a data set stored class by class cannot meet the size constraint, and
  the score would depend on the order of the file. This is the unsupervised criterion
  the protocol uses to choose among runs.

Example:
    >>> model = OTClustering(n_clusters=3, backbone="mlp", proportions=(0.5, 0.3, 0.2))
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> model.fit(dataset, epochs=5)
    >>> model.predict(x).shape      # (n, 3) cluster probabilities
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import tensorflow as tf

from ddc_tf.losses import sinkhorn
from ddc_tf.losses.neighbors import neighbor_distance
from ddc_tf.losses.batch_kmeans import kmeans_on_batch
from ddc_tf.models import networks
from ddc_tf.models.base import ClusteringModel, parse_proportions

__all__ = ["ColumnMarginalError", "OTClustering", "TERM_DESCRIPTIONS"]

#: What ``l1``, ``l2``, ``l3`` mean for this model (the protocol stores three terms per run).
TERM_DESCRIPTIONS = {
    "l1": "transport cost <P, C>: within-cluster share of the embedding's variance",
    "l2": "reconstruction error: share of the input batch's variance the decoder misses",
    "l3": "size error sum_j |mean assignment to j - b_j| over the batches seen (0 if free)",
}
#: Momentum of the running column potential used by ``predict`` (as batch-norm's).
DEFAULT_POTENTIAL_MOMENTUM = 0.99
#: Weight λ of the reconstruction term (both terms are fractions of unexplained variance).
DEFAULT_RECONSTRUCTION_WEIGHT = 1.0


@keras.saving.register_keras_serializable(package="ddc_tf")
class ColumnMarginalError(keras.metrics.Metric):
    """``Σ_j |mean_i q_ij − b_j|`` over every assignment row ``q_i`` seen since the reset.

    Accumulated over batches, so it measures the cluster sizes over a whole pass, not per
    batch. 0 when ``proportions`` is ``None`` (no size constraint).
    """

    def __init__(
        self,
        proportions: Sequence[float] | None,
        n_clusters: int,
        name: str = "size_error",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.proportions = None if proportions is None else [float(p) for p in proportions]
        self.n_clusters = int(n_clusters)
        self.column_sums = self.add_variable(
            shape=(self.n_clusters,), initializer="zeros", name="column_sums"
        )
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, assignments: tf.Tensor) -> None:
        assignments = tf.cast(assignments, tf.float32)
        self.column_sums.assign_add(tf.reduce_sum(assignments, axis=0))
        self.count.assign_add(tf.cast(tf.shape(assignments)[0], tf.float32))

    def result(self) -> tf.Tensor:
        if self.proportions is None:
            return tf.constant(0.0, tf.float32)
        sizes = self.column_sums / tf.maximum(self.count, 1.0)
        return tf.reduce_sum(tf.abs(sizes - tf.constant(self.proportions, tf.float32)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "proportions": self.proportions, "n_clusters": self.n_clusters}


@keras.saving.register_keras_serializable(package="ddc_tf")
class OTClustering(ClusteringModel):
    """Optimal-transport clustering with cluster-size constraints (Genevay et al. 2019).

    Args:
        n_clusters: number of clusters k (≥ 2).
        backbone: ``"conv"``, ``"mlp"`` (the paper's networks) or a ``keras.Layer``
            mapping inputs to features ``(batch, features)``.
        hidden_units: width of the head ``Dense → ReLU → BatchNorm`` (the hidden
            representation ``embed`` returns). Default 100 (conv), 500 (mlp), 100 (custom).
        embedding_dim: dimension of the clustering space holding points and centroids;
            default ``n_clusters``.
        epsilon: entropic regularisation ε (> 0), in units of the normalised embedding's
            total variance (1). Smaller is closer to hard k-means.
        proportions: target cluster proportions: ``"uniform"`` (default), k positive
            numbers (normalised to sum to 1; cluster j receives fraction ``b_j`` of every
            batch, as far as the fixed iterations converge: see the module notes, "Gradient"), or ``None`` for
            no size constraint (soft k-means).
        reconstruction_weight: weight λ of the autoencoder term (0 = no decoder).
        iterations: Sinkhorn iterations per step (fixed).
        epsilon_start: ε-scaling: each step's iterations start at this larger ε and lower it
            geometrically to ``epsilon`` over the first ``annealing_iterations``
            (:func:`ddc_tf.losses.sinkhorn.sinkhorn`); ``None`` solves at ``epsilon``
            throughout.
        annealing_iterations: iterations that lower ε; default 2/5 of ``iterations``.
        stop_gradient_plan: hold the plan constant in the backward pass (default True).
        potential_momentum: momentum of the running column potential used by ``predict``.
        init_centroids: at the first training step, place the centroids from k-means on
            that batch (:meth:`initialize_centroids`); ``False`` keeps them random; ``"auto"``
            (default) does it only for non-uniform proportions.
        seed: seed of the k-means++ draws.
        input_dropout: fraction of input entries dropped in training (0 = off).
        neighbor_weight: weight of the neighbour term on neighbour-pair batches: the mean
            squared distance between a point's embedding and its neighbour's
            (:func:`ddc_tf.losses.neighbor_distance`), in the transport cost's units (the
            embedding's total variance is 1).
        **kwargs: passed to ``keras.Model``.

    Call:
        ``model(x)`` → ``(batch, n_clusters)`` float32 cluster probabilities.

    Metrics shown by ``fit``/``evaluate``: ``loss`` (``⟨P, C⟩ + λ·reconstruction``),
    ``l1, l2, l3`` as in :data:`TERM_DESCRIPTIONS` (named like DDC's terms so the protocol
    stores them), ``entropy`` (mean entropy of the assignment rows) and, on neighbour
    pairs, ``neighbors``.
    """

    METHOD = "ot"
    TERM_DESCRIPTIONS = TERM_DESCRIPTIONS
    TERM_LABELS = {"l1": "transport cost", "l2": "reconstruction", "l3": "size error"}
    #: The size error accumulates the assignments over every batch seen.
    METRIC_INPUTS = {"l3": "assignments"}

    def __init__(
        self,
        n_clusters: int,
        backbone: str | keras.layers.Layer = "conv",
        hidden_units: int | None = None,
        embedding_dim: int | None = None,
        epsilon: float = sinkhorn.DEFAULT_EPSILON,
        proportions: str | Sequence[float] | None = "uniform",
        reconstruction_weight: float = DEFAULT_RECONSTRUCTION_WEIGHT,
        iterations: int = sinkhorn.DEFAULT_ITERATIONS,
        epsilon_start: float | None = None,
        annealing_iterations: int | None = None,
        stop_gradient_plan: bool = True,
        potential_momentum: float = DEFAULT_POTENTIAL_MOMENTUM,
        init_centroids: bool | str = "auto",
        seed: int | None = None,
        input_dropout: float = 0.0,
        neighbor_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_clusters, backbone, hidden_units, input_dropout, neighbor_weight, **kwargs)
        if not (float(epsilon) > 0 and math.isfinite(float(epsilon))):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        if not (float(reconstruction_weight) >= 0 and math.isfinite(float(reconstruction_weight))):
            raise ValueError(f"reconstruction_weight must be ≥ 0, got {reconstruction_weight!r}")
        if int(iterations) < 1:
            raise ValueError(f"iterations must be ≥ 1, got {iterations!r}")
        if not 0.0 <= float(potential_momentum) < 1.0:
            raise ValueError(f"potential_momentum must be in [0, 1), got {potential_momentum!r}")
        self.proportions = parse_proportions(proportions, self.n_clusters)
        self.epsilon = float(epsilon)
        self.reconstruction_weight = float(reconstruction_weight)
        self.iterations = int(iterations)
        sinkhorn.annealing_schedule(self.epsilon, epsilon_start, annealing_iterations, self.iterations)  # checks them
        self.epsilon_start = None if epsilon_start is None else float(epsilon_start)
        self.annealing_iterations = None if annealing_iterations is None else int(annealing_iterations)
        self.stop_gradient_plan = bool(stop_gradient_plan)
        self.potential_momentum = float(potential_momentum)
        if init_centroids not in (True, False, "auto"):
            raise ValueError(f"init_centroids must be True, False or 'auto', got {init_centroids!r}")
        self.init_centroids = init_centroids
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="init_seed")
        self.embedding_dim = int(embedding_dim or self.n_clusters)
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be ≥ 1, got {embedding_dim!r}")
        # The clustering space is float32 under mixed precision (costs, exp, logsumexp).
        self.projection = keras.layers.Dense(
            self.embedding_dim,
            kernel_initializer=networks.KERNEL_INITIALIZER,
            dtype="float32",
            name="projection",
        )
        self.normalizer = keras.layers.BatchNormalization(
            center=False, scale=False, dtype="float32", name="normalizer"
        )
        self.decoder: keras.Sequential | None = None  # made in build(): needs the input shape
        self.term_trackers["l3"] = ColumnMarginalError(self.proportions, self.n_clusters, name="l3")
        self.entropy_tracker = keras.metrics.Mean(name="entropy")

    # ----------------------------------------------------------------- building
    def build_head(self, input_shape: tuple[int | None, ...]) -> None:
        self.projection.build((None, self.hidden_units))
        self.normalizer.build((None, self.embedding_dim))
        self.build_decoder(input_shape, self.embedding_dim)
        # Centroids start at the scale of the normalised embedding (norm ≈ 1).
        self.centroids = self.add_weight(
            shape=(self.n_clusters, self.embedding_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(self.embedding_dim)),
            dtype="float32",
            autocast=False,  # stays float32 under mixed precision
            name="centroids",
        )
        self.column_potential = self.add_weight(
            shape=(self.n_clusters,),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            name="column_potential",
        )
        self.centroids_initialized = self.add_weight(
            shape=(), initializer="zeros", dtype="float32", trainable=False, autocast=False,
            name="centroids_initialized",
        )

    # ----------------------------------------------------------------- forward
    def hidden_and_latent(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(hidden (batch, hidden_units), z (batch, embedding_dim))``, both float32."""
        hidden = self.trunk(x, training=training)
        z = self.normalizer(self.projection(hidden), training=training)
        return tf.cast(hidden, tf.float32), z / math.sqrt(self.embedding_dim)

    def latent(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The normalised clustering embedding ``z``: ``(batch, embedding_dim)`` float32."""
        return self.hidden_and_latent(x, training=training)[1]

    def assign(self, cost: tf.Tensor) -> tf.Tensor:
        """Batch-independent soft assignments ``softmax_j((ḡ_j − C_ij)/ε)`` of costs ``(m, k)``."""
        return tf.nn.softmax(sinkhorn.assignment_logits(cost, self.column_potential, self.epsilon), axis=1)

    def hidden_and_logits(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(hidden (batch, hidden_units), logits (batch, k))`` with the pre-softmax scores
        ``(ḡ_j − ||z − c_j||²)/ε`` (:func:`ddc_tf.losses.sinkhorn.assignment_logits`)."""
        hidden, z = self.hidden_and_latent(x, training=training)
        cost = sinkhorn.squared_euclidean(z, self.centroids)
        return hidden, sinkhorn.assignment_logits(cost, self.column_potential, self.epsilon)

    def problem(self, z: tf.Tensor) -> sinkhorn.Problem:
        """The OT problem of a batch of embeddings ``z`` ``(m, embedding_dim)`` and the centroids."""
        geometry = sinkhorn.Geometry.squared_euclidean(z, self.centroids, self.epsilon)
        return sinkhorn.Problem(geometry, self.proportions)

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The loss of one batch and what the metrics track.

        Training (``training=True``): Sinkhorn on the batch, transport cost ``⟨P, C⟩``
        with the plan ``P`` (summing to 1). Evaluation: the assignments ``Q`` that
        ``predict`` gives (running column potential, no Sinkhorn), transport cost
        ``mean_i Σ_j Q_ij C_ij`` — the same quantity in expectation on shuffled batches,
        but independent of how the data set is cut into batches.

        Returns:
            float32 ``{"total", "l1" (= "transport"), "l2" (= "reconstruction"), "l3"
            (this batch's size error, 0 if free), "entropy" (mean row entropy of the
            assignments), "assignments" (m, k), "g" (k,) or None}``.
        """
        x = self._built_for(x)
        return self._terms(x, self.latent(x, training=training), training)

    def neighbor_training_terms(
        self, x: tf.Tensor, neighbors: tf.Tensor, tape: tf.GradientTape
    ) -> dict[str, tf.Tensor]:
        """The training terms of the points ``x`` (Sinkhorn on their embeddings) and the
        mean squared embedding distance of each point to its neighbour (``neighbors``, row
        by row); the objective is ``total + neighbor_weight · neighbors``. Points and
        neighbours are embedded in one pass (the normaliser's batch holds both)."""
        x = self._built_for(x)
        both, m = self.paired_inputs(x, neighbors)
        z = self.latent(both, training=True)
        terms = self._terms(x, z[:m], training=True)
        return self.with_neighbor_term(terms, neighbor_distance(z[:m], z[m:]))

    def _terms(self, x: tf.Tensor, z: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        """``loss_terms`` of the batch ``x`` from its embeddings ``z`` ``(m, embedding_dim)``."""
        if training:
            out = sinkhorn.sinkhorn(
                self.problem(z),
                self.iterations,
                stop_gradient_plan=self.stop_gradient_plan,
                g_init=self.column_potential if self.proportions is not None else None,
                epsilon_start=self.epsilon_start,
                annealing_iterations=self.annealing_iterations,
            )
            transport, assignments, g = out.transport_cost, out.assignments, out.g
        else:
            cost = sinkhorn.squared_euclidean(z, self.centroids)
            assignments = self.assign(cost)
            transport = tf.reduce_mean(tf.reduce_sum(assignments * cost, axis=1))
            g = None
        reconstruction = self.reconstruction_error(x, z, training=training)
        total = transport
        if self.decoder is not None:
            total = total + self.reconstruction_weight * reconstruction
        if self.proportions is None:
            size_error = tf.constant(0.0, tf.float32)
        else:
            sizes = tf.reduce_mean(assignments, axis=0)
            size_error = tf.reduce_sum(tf.abs(sizes - tf.constant(self.proportions, tf.float32)))
        row_entropy = -tf.reduce_sum(assignments * tf.math.log(tf.maximum(assignments, 1e-30)), axis=1)
        return {
            "total": total,
            "l1": transport,
            "l2": reconstruction,
            "l3": size_error,
            "entropy": tf.reduce_mean(row_entropy),
            "transport": transport,
            "reconstruction": reconstruction,
            "assignments": assignments,
            "g": g,
        }

    # ----------------------------------------------------------------- training
    def extra_metrics(self) -> list[keras.metrics.Metric]:
        return [self.entropy_tracker]

    def _update_potential(self, g: tf.Tensor) -> None:
        """Running average of the column potential, gauge fixed by ``Σ_j b_j g_j = 0``."""
        if self.proportions is None:
            return
        b = tf.constant(self.proportions, tf.float32)
        g = tf.stop_gradient(g)
        g = g - tf.reduce_sum(b * g)
        m = self.potential_momentum
        self.column_potential.assign(m * self.column_potential + (1.0 - m) * g)

    @property
    def uses_centroid_init(self) -> bool:
        """Whether the first training step places the centroids by k-means (``"auto"``:
        only with non-uniform proportions, where a centroid must start in a slot of the
        right size; with uniform or free proportions random centroids trained better)."""
        if self.init_centroids == "auto":
            return self.proportions is not None and len(set(self.proportions)) > 1
        return bool(self.init_centroids)

    def initialize_centroids(self, x: tf.Tensor) -> tf.Tensor:
        """Place the centroids from k-means on the batch ``x``.

        k-means runs on the hidden representation (where a randomly initialised network
        already separates well-separated groups; a random projection to the clustering
        space blurs them), and each centroid starts at the mean embedding ``z`` of one
        k-means cluster. With non-uniform proportions the largest cluster goes to the
        centroid with the largest target proportion, and so on by rank. Returns ``True``.
        """
        hidden, z = self.hidden_and_latent(x, training=True)
        _, labels = kmeans_on_batch(hidden, self.n_clusters, self.seed_generator)
        ones = tf.ones_like(labels, tf.float32)
        sizes = tf.math.unsorted_segment_sum(ones, labels, self.n_clusters)
        centroids = tf.math.unsorted_segment_sum(z, labels, self.n_clusters) / tf.maximum(sizes, 1.0)[:, tf.newaxis]
        centroids = tf.where(sizes[:, tf.newaxis] > 0, centroids, self.centroids)
        if self.proportions is not None and len(set(self.proportions)) > 1:
            by_size = tf.argsort(sizes, direction="DESCENDING", stable=True)
            slots = tf.argsort(tf.constant(self.proportions), direction="DESCENDING", stable=True)
            centroids = tf.scatter_nd(slots[:, tf.newaxis], tf.gather(centroids, by_size), tf.shape(centroids))
        self.centroids.assign(centroids)
        self.centroids_initialized.assign(1.0)
        return tf.constant(True)

    def fitted_to_partition(self) -> None:
        """The centroids were fitted with the network: the first step's k-means placement
        would re-rank them and undo the start."""
        self.centroids_initialized.assign(1.0)

    def before_train_step(self, x: tf.Tensor) -> None:
        if self.uses_centroid_init:
            tf.cond(
                self.centroids_initialized > 0.5,
                lambda: tf.constant(False),
                lambda: self.initialize_centroids(x),
            )

    def after_train_step(self, terms: dict[str, tf.Tensor]) -> None:
        self._update_potential(terms["g"])

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            embedding_dim=self.embedding_dim,
            epsilon=self.epsilon,
            proportions=None if self.proportions is None else list(self.proportions),
            reconstruction_weight=self.reconstruction_weight,
            iterations=self.iterations,
            epsilon_start=self.epsilon_start,
            annealing_iterations=self.annealing_iterations,
            stop_gradient_plan=self.stop_gradient_plan,
            potential_momentum=self.potential_momentum,
            init_centroids=self.init_centroids,
            seed=self.seed,
        )
        return config
