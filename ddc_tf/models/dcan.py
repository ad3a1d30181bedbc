"""DCAN: deep clustering with an adversarial-net clustering loss (Lim).

Deep clustering penalises a latent point for lying far from its cluster's centre; its
probabilistic variant writes that as the KL divergence between the encoder's latent
distribution and a Gaussian mixture, which needs a closed form. DCAN instead plays an
encoder against a discriminator in the latent space, as in an adversarial autoencoder:

- the **prior** is a Gaussian mixture ``p(z) = Σ_k π_k N(μ_k, σ² I)`` with one component
  per cluster;
- the **discriminator** ``D(z)`` learns to tell prior samples (label 1) from encoder
  outputs ``z = E(x)`` (label 0), maximising
  ``V(D, E) = E_p[log D(z)] + E_x[log(1 − D(E(x)))]``;
- the **encoder** minimises ``V``. For the optimal discriminator
  ``V(D*, E) = 2·JS(p ‖ q_E) − log 4`` (Goodfellow et al. 2014), so at the optimum the
  encoder minimises the Jensen–Shannon divergence between its latent distribution
  ``q_E`` and the clustering prior: a clustering loss with no closed form.

A point's cluster is its mixture component's posterior ``p(k | z) ∝ π_k N(z; μ_k, σ² I)``.

Choices where the paper's summary is silent (each is a constructor argument):

- **Prior.** ``μ_k = separation · e_k`` (the k corners of a scaled simplex, in a latent
  space of dimension ``latent_dim ≥ k``; extra dimensions carry pure N(0, σ²) noise),
  ``σ = 1``, ``separation = 4`` (centres 5.7 σ apart: well-separated clusters), mixture
  weights ``π`` uniform or user-given (``proportions``, as for the OT model). The prior is
  fixed: with learnable centres the mixture could move onto the encoder instead of the
  reverse, and a fixed prior loses nothing since the encoder can rotate its output.
- **Encoder loss.** The minimax loss ``E[log(1 − D(E(x)))]`` by default, because that is the
  one whose optimum is the JS divergence; ``encoder_loss="non_saturating"`` uses
  ``−E[log D(E(x))]`` (stronger early gradients, but at the optimum it minimises
  ``KL(q‖p) − 2 JS``, not JS).
- **Alternation.** One discriminator update, then one encoder update on the same batch
  against the just-updated discriminator, inside one ``train_step`` (one ``tf.function``),
  with two optimizers. The encoder's forward pass is computed once.
- **Reconstruction.** As in the adversarial autoencoder DCAN builds on, a decoder
  reconstructs the input from ``z`` (weight ``reconstruction_weight``, the share of the
  input variance it misses, see :func:`ddc_tf.losses.reconstruction.relative_reconstruction_error`);
  0 removes it. Without it any balanced partition of the data can be mapped onto the
  mixture equally well.
- **Measured defaults** (scikit-learn digits, MLP, 1 500 steps, ACC for seeds 0 / 1; the
  seed-to-seed spread is about ±0.05, so only the large gaps below are real):
  discriminator 256-256 (0.65 / 0.73; 128-128: 0.51 for seed 0); separation 4 (2: 0.36 /
  0.53; 8: the discriminator wins outright, accuracy 1.0, ACC 0.44 / 0.38); λ = 1 (3:
  0.68 / 0.67 with 128-128, 0.65 / 0.61 with 256-256; 0: the latent collapses onto a few
  components, ACC 0.20 / 0.24); ``latent_dim = k`` (k + 10: 0.29 / 0.42).
- **Reported loss.** ``loss = JŜ + λ·reconstruction`` where ``JŜ = log 2 + V/2`` is the
  discriminator's estimate of the JS divergence (in nats, ≤ log 2). ``evaluate`` scores
  encoder outputs against a fixed prior sample (stateless seeds), so it is deterministic.

Example:
    >>> model = DCAN(n_clusters=10, backbone="mlp")
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))  # discriminator: a copy
    >>> model.fit(dataset, epochs=5)
    >>> model.predict(x).shape                                # (n, 10)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import tensorflow as tf

from ddc_tf.losses.neighbors import neighbor_distance
from ddc_tf.models import networks
from ddc_tf.models.base import ClusteringModel, num_replicas, parse_proportions

__all__ = ["DCAN", "TERM_DESCRIPTIONS", "ENCODER_LOSSES"]

#: What ``l1``, ``l2``, ``l3`` mean for this model (the protocol stores three terms per run).
TERM_DESCRIPTIONS = {
    "l1": "discriminator loss: mean binary cross-entropy on prior and encoder samples",
    "l2": "reconstruction error: share of the input batch's variance the decoder misses",
    "l3": "closed-form deep-clustering (ABC) loss: mean_i min_k ||z_i - mu_k||^2 / (2 sigma^2)",
}
ENCODER_LOSSES = ("minimax", "non_saturating")
DEFAULT_SEPARATION = 4.0
DEFAULT_PRIOR_SCALE = 1.0
DEFAULT_DISCRIMINATOR_UNITS = (256, 256)
DEFAULT_RECONSTRUCTION_WEIGHT = 1.0
#: Seeds of the fixed prior sample ``evaluate`` scores against (deterministic selection).
_EVAL_SEEDS = ((1234, 0), (1234, 1))
_LOG2 = math.log(2.0)


@keras.saving.register_keras_serializable(package="ddc_tf")
class DCAN(ClusteringModel):
    """Deep clustering with an adversarial-net clustering loss (Lim).

    Args:
        n_clusters: number of clusters k (≥ 2).
        backbone: ``"conv"``, ``"mlp"`` or a ``keras.Layer`` mapping inputs to features.
        hidden_units: width of the head ``Dense → ReLU → BatchNorm`` (``embed`` returns it).
        latent_dim: dimension of the latent space (≥ k); default k.
        separation: distance of each prior centre from the origin (``μ_k = separation·e_k``).
        prior_scale: standard deviation σ of each prior component.
        proportions: mixture weights π: ``"uniform"`` or k positive numbers.
        discriminator_units: hidden widths of the discriminator MLP.
        encoder_loss: ``"minimax"`` (JS at the optimum; default) or ``"non_saturating"``.
        reconstruction_weight: weight λ of the reconstruction term (0 = no decoder).
        seed: seed of the prior samples drawn during training.
        input_dropout: fraction of input entries dropped in training (0 = off).
        neighbor_weight: weight of the neighbour term on neighbour-pair batches: the mean
            squared distance between a point's latent and its neighbour's over ``2σ²``
            (:func:`ddc_tf.losses.neighbor_distance`; the units of the ABC loss ``l3``);
            default ``DEFAULT_NEIGHBOR_WEIGHT`` (0.1).
        **kwargs: passed to ``keras.Model``.

    Call:
        ``model(x)`` → ``(batch, n_clusters)`` float32 posterior ``p(k | z)``.

    Metrics shown by ``fit``/``evaluate``: ``loss`` (``JŜ + λ·reconstruction``), ``l1, l2,
    l3`` as in :data:`TERM_DESCRIPTIONS`, ``encoder_loss`` and ``d_accuracy`` (the
    discriminator's accuracy on prior and encoder samples, ½ when it cannot tell them apart);
    on neighbour pairs ``neighbors`` too.
    """

    METHOD = "dcan"
    TERM_DESCRIPTIONS = TERM_DESCRIPTIONS
    TERM_LABELS = {"l1": "discriminator loss", "l2": "reconstruction", "l3": "clustering (ABC) loss"}
    #: digits, MLP, 5 seeds × 2 000 steps, runs' ACC: 0.632 without the term, 0.576 at
    #: weight 0.03, 0.652 at 0.1, 0.420 at 1 (the pull shrinks the clusters the prior keeps at σ).
    DEFAULT_NEIGHBOR_WEIGHT = 0.1

    def __init__(
        self,
        n_clusters: int,
        backbone: str | keras.layers.Layer = "conv",
        hidden_units: int | None = None,
        latent_dim: int | None = None,
        separation: float = DEFAULT_SEPARATION,
        prior_scale: float = DEFAULT_PRIOR_SCALE,
        proportions: str | Sequence[float] = "uniform",
        discriminator_units: Sequence[int] = DEFAULT_DISCRIMINATOR_UNITS,
        encoder_loss: str = "minimax",
        reconstruction_weight: float = DEFAULT_RECONSTRUCTION_WEIGHT,
        seed: int | None = None,
        input_dropout: float = 0.0,
        neighbor_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_clusters, backbone, hidden_units, input_dropout, neighbor_weight, **kwargs)
        if encoder_loss not in ENCODER_LOSSES:
            raise ValueError(f"encoder_loss={encoder_loss!r}; expected one of {ENCODER_LOSSES}")
        for label, value in (("separation", separation), ("prior_scale", prior_scale)):
            if not (float(value) > 0 and math.isfinite(float(value))):
                raise ValueError(f"{label} must be a positive number, got {value!r}")
        if not (float(reconstruction_weight) >= 0 and math.isfinite(float(reconstruction_weight))):
            raise ValueError(f"reconstruction_weight must be ≥ 0, got {reconstruction_weight!r}")
        self.latent_dim = int(latent_dim or self.n_clusters)
        if self.latent_dim < self.n_clusters:
            raise ValueError(
                f"latent_dim must be ≥ n_clusters ({self.n_clusters}): one axis per prior centre, "
                f"got {latent_dim}"
            )
        self.separation = float(separation)
        self.prior_scale = float(prior_scale)
        self.proportions = parse_proportions(proportions, self.n_clusters, allow_free=False)
        self.discriminator_units = tuple(int(u) for u in discriminator_units)
        if not self.discriminator_units or min(self.discriminator_units) < 1:
            raise ValueError(f"discriminator_units must be positive widths, got {discriminator_units!r}")
        self.encoder_loss = encoder_loss
        self.reconstruction_weight = float(reconstruction_weight)
        self.seed = seed

        self.latent_layer = keras.layers.Dense(
            self.latent_dim,
            kernel_initializer=networks.KERNEL_INITIALIZER,
            dtype="float32",
            name="latent",
        )
        self.discriminator = networks.make_discriminator(self.discriminator_units)
        # Its input shape is known now: building it here lets compile() create the second
        # optimizer's slots outside the traced train_step (Keras builds the rest lazily).
        self.discriminator.build((None, self.latent_dim))
        self.decoder: keras.Sequential | None = None  # made in build(): needs the input shape
        self.seed_generator = keras.random.SeedGenerator(seed, name="prior_seed")
        self.discriminator_optimizer: keras.optimizers.Optimizer | None = None
        self.encoder_loss_tracker = keras.metrics.Mean(name="encoder_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="d_accuracy")

    # ----------------------------------------------------------------- prior
    @property
    def means(self) -> tf.Tensor:
        """``(k, latent_dim)`` prior centres ``separation · e_k``."""
        return self.separation * tf.eye(self.n_clusters, self.latent_dim, dtype=tf.float32)

    @property
    def log_weights(self) -> tf.Tensor:
        """``(k,)`` log mixture weights ``log π_k``."""
        return tf.math.log(tf.constant(self.proportions, tf.float32))

    def sample_prior(self, n: tf.Tensor | int, seeds: Sequence[Any] | None = None) -> tf.Tensor:
        """``(n, latent_dim)`` samples of the Gaussian-mixture prior.

        Args:
            n: number of samples (may be a dynamic batch size).
            seeds: two stateless seeds ``(component seed, noise seed)``; default: the
                model's seed generator (fresh samples at every call).
        """
        logits = self.log_weights[tf.newaxis, :]
        if seeds is None:
            components = keras.random.categorical(logits, n, seed=self.seed_generator)[0]
            noise = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        else:
            components = tf.random.stateless_categorical(logits, n, seed=seeds[0])[0]
            noise = tf.random.stateless_normal(tf.stack([n, self.latent_dim]), seed=seeds[1])
        return tf.gather(self.means, components) + self.prior_scale * tf.cast(noise, tf.float32)

    def posterior_logits(self, z: tf.Tensor) -> tf.Tensor:
        """``(m, k)`` unnormalised log posterior ``log π_k − ||z − μ_k||² / (2σ²)``."""
        sq = tf.reduce_sum(tf.square(z[:, tf.newaxis, :] - self.means[tf.newaxis]), axis=2)
        return self.log_weights - sq / (2.0 * self.prior_scale**2)

    def posterior(self, z: tf.Tensor) -> tf.Tensor:
        """``(m, k)`` cluster posterior ``p(k | z) ∝ π_k N(z; μ_k, σ² I)``."""
        return tf.nn.softmax(self.posterior_logits(z), axis=1)

    def abc_loss(self, z: tf.Tensor) -> tf.Tensor:
        """Closed-form deep-clustering loss ``mean_i min_k ||z_i − μ_k||² / (2σ²)`` (a diagnostic)."""
        sq = tf.reduce_sum(tf.square(z[:, tf.newaxis, :] - self.means[tf.newaxis]), axis=2)
        return tf.reduce_mean(tf.reduce_min(sq, axis=1)) / (2.0 * self.prior_scale**2)

    # ----------------------------------------------------------------- building
    def build_head(self, input_shape: tuple[int | None, ...]) -> None:
        self.latent_layer.build((None, self.hidden_units))
        self.build_decoder(input_shape, self.latent_dim)

    # ----------------------------------------------------------------- forward
    def hidden_and_latent(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(hidden (batch, hidden_units), z (batch, latent_dim))``, both float32."""
        hidden = self.trunk(x, training=training)
        return tf.cast(hidden, tf.float32), self.latent_layer(hidden)

    def latent(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The encoder's latent point ``z``: ``(batch, latent_dim)`` float32."""
        return self.hidden_and_latent(x, training=training)[1]

    def hidden_and_logits(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(hidden (batch, hidden_units), logits (batch, k))``: the log posterior up to a
        constant (as ``DDC.hidden_and_logits``: guided backprop, plots)."""
        hidden, z = self.hidden_and_latent(x, training=training)
        return hidden, self.posterior_logits(z)

    # ----------------------------------------------------------------- losses
    @staticmethod
    def discriminator_terms(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> dict[str, tf.Tensor]:
        """Discriminator loss, JS estimate and accuracy from its logits on prior (real) and
        encoder (fake) samples.

        With ``log D = −softplus(−l)`` and ``log(1 − D) = −softplus(l)``:
        ``loss_D = ½ (E_p softplus(−l) + E_q softplus(l))`` (mean binary cross-entropy) and
        ``JŜ = log 2 + V/2 = log 2 − loss_D``.
        """
        real_logits = tf.cast(real_logits, tf.float32)
        fake_logits = tf.cast(fake_logits, tf.float32)
        d_loss = 0.5 * (
            tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
        )
        accuracy = 0.5 * (
            tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
            + tf.reduce_mean(tf.cast(fake_logits <= 0, tf.float32))
        )
        return {"d_loss": d_loss, "js": _LOG2 - d_loss, "d_accuracy": accuracy}

    def adversarial_encoder_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        """Minimax ``E[log(1 − D(z))] = −E softplus(l)``, or non-saturating ``E softplus(−l)``."""
        fake_logits = tf.cast(fake_logits, tf.float32)
        if self.encoder_loss == "minimax":
            return -tf.reduce_mean(tf.nn.softplus(fake_logits))
        return tf.reduce_mean(tf.nn.softplus(-fake_logits))

    def _terms(
        self, x: tf.Tensor, z: tf.Tensor, d_terms: dict[str, tf.Tensor], fake_logits: tf.Tensor, training: bool
    ) -> dict[str, tf.Tensor]:
        reconstruction = self.reconstruction_error(x, z, training=training)
        adversarial = self.adversarial_encoder_loss(fake_logits)
        abc = self.abc_loss(tf.stop_gradient(z))
        return {
            "l1": d_terms["d_loss"],
            "l2": reconstruction,
            "l3": abc,
            "total": d_terms["js"] + self.reconstruction_weight * reconstruction,
            "objective": adversarial + self.reconstruction_weight * reconstruction,
            "d_loss": d_terms["d_loss"],
            "d_accuracy": d_terms["d_accuracy"],
            "reconstruction": reconstruction,
            "abc": abc,
            "encoder_loss": adversarial,
        }

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The reported loss of one batch, with no update: ``JŜ + λ·reconstruction`` where
        the discriminator scores the encoder's outputs against a fixed prior sample
        (stateless seeds), so the score of a batch is deterministic.

        Returns:
            float32 ``{"total", "l1" (discriminator loss), "l2" (reconstruction), "l3"
            (ABC loss), "objective" (the encoder's loss), "encoder_loss", "d_accuracy",
            ...}``.
        """
        x = self._built_for(x)
        z = self.latent(x, training=training)
        prior = self.sample_prior(tf.shape(x)[0], seeds=_EVAL_SEEDS)
        fake_logits = self.discriminator(z, training=False)
        d_terms = self.discriminator_terms(self.discriminator(prior, training=False), fake_logits)
        return self._terms(x, z, d_terms, fake_logits, training)

    # ----------------------------------------------------------------- training
    def compile(
        self,
        optimizer: Any = None,
        discriminator_optimizer: Any = None,
        **kwargs: Any,
    ) -> None:
        """Like ``keras.Model.compile``, with a second optimizer for the discriminator.

        Args:
            optimizer: the encoder's (and decoder's) optimizer; ``None`` = Adam at the
                backbone's paper rate (1e-3 conv, 1e-5 mlp).
            discriminator_optimizer: the discriminator's; ``None`` = a fresh optimizer
                from ``optimizer``'s config (same class and learning rate).
        """
        if optimizer is None:
            optimizer = networks.paper_optimizer(self.backbone_name)
        optimizer = keras.optimizers.get(optimizer)
        if discriminator_optimizer is None:
            inner = getattr(optimizer, "inner_optimizer", optimizer)
            discriminator_optimizer = inner.__class__.from_config(inner.get_config())
        super().compile(optimizer=optimizer, **kwargs)
        # The discriminator runs in float32 even under mixed precision: no loss scaling.
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self) -> dict[str, Any]:
        config = super().get_compile_config()
        if config and self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(
                self.discriminator_optimizer
            )
        return config

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Re-compile after ``keras.models.load_model``, with the discriminator's optimizer."""
        config = dict(config)
        d_config = config.pop("discriminator_optimizer", None)
        super().compile_from_config(config)
        if d_config is not None:
            self.discriminator_optimizer = keras.saving.deserialize_keras_object(d_config)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def optimized_variables(self) -> list[keras.Variable]:
        """Everything trainable except the discriminator (backbone, head, latent, decoder)."""
        d_ids = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in d_ids]

    def extra_metrics(self) -> list[keras.metrics.Metric]:
        return [self.encoder_loss_tracker, self.accuracy_tracker]

    def training_terms(self, x: tf.Tensor, tape: tf.GradientTape) -> dict[str, tf.Tensor]:
        """One discriminator update, then the encoder's terms against the updated
        discriminator (the encoder's forward pass is computed once)."""
        return self._adversarial_terms(x, self.latent(x, training=True), tape)

    def neighbor_training_terms(
        self, x: tf.Tensor, neighbors: tf.Tensor, tape: tf.GradientTape
    ) -> dict[str, tf.Tensor]:
        """The adversarial step on the points ``x`` and the mean squared latent distance of
        each point to its neighbour (``neighbors``, row by row) over ``2σ²``; the encoder's
        objective gains ``neighbor_weight · neighbors``. Points and neighbours are encoded
        in one pass; the discriminator sees the points only."""
        x = self._built_for(x)
        both, m = self.paired_inputs(x, neighbors)
        z = self.latent(both, training=True)
        terms = self._adversarial_terms(x, z[:m], tape)
        return self.with_neighbor_term(terms, neighbor_distance(z[:m], z[m:]) / (2.0 * self.prior_scale**2))

    def _adversarial_terms(self, x: tf.Tensor, z: tf.Tensor, tape: tf.GradientTape) -> dict[str, tf.Tensor]:
        """``training_terms`` of the batch ``x`` from its latent points ``z`` (the
        discriminator's update is kept off the encoder's ``tape``)."""
        prior = self.sample_prior(tf.shape(x)[0])
        d_variables = self.discriminator.trainable_variables
        # 1. Discriminator step on a detached copy of the encoder's output.
        with tape.stop_recording():
            with tf.GradientTape() as d_tape:
                d_terms = self.discriminator_terms(
                    self.discriminator(prior, training=True),
                    self.discriminator(tf.stop_gradient(z), training=True),
                )
                d_loss = d_terms["d_loss"]
                if (replicas := num_replicas()) > 1:  # the optimizer sums over replicas: their mean, as the encoder's
                    d_loss = d_loss / tf.cast(replicas, d_loss.dtype)
            d_gradients = d_tape.gradient(d_loss, d_variables)
            self.discriminator_optimizer.apply(d_gradients, d_variables)
        # 2. Encoder step against the updated discriminator.
        fake_logits = self.discriminator(z, training=True)
        return self._terms(x, z, d_terms, fake_logits, training=True)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            separation=self.separation,
            prior_scale=self.prior_scale,
            proportions=list(self.proportions),
            discriminator_units=list(self.discriminator_units),
            encoder_loss=self.encoder_loss,
            reconstruction_weight=self.reconstruction_weight,
            seed=self.seed,
        )
        return config
