"""``ClusteringModel``: what every deep clustering model of this package shares.

A clustering model maps inputs through a *trunk* — optional input dropout, a backbone
(:mod:`ddc_tf.models.networks`) and the hidden head ``Dense → ReLU → BatchNorm`` — to the
hidden representation ``embed`` returns, and from there, by a method-specific *head*, to
pre-softmax cluster scores (``hidden_and_logits``) and cluster probabilities (``call``).
It trains itself on unlabelled batches with its own loss.

As Keras' ``Trainer`` owns the loop and lets a subclass override ``compute_loss``, this
base class owns validation, building (also from the first batch of ``fit``'s data, so an
unbuilt model works with every standard callback), ``compile``, the metric trackers, the
``train_step`` template (regularisers, loss scaling, gradients, ``tf.distribute``),
``test_step``, ``predict_step`` and the config; a subclass supplies:

- ``METHOD``: its short name (``"ddc"``, ``"ot"``, ``"dcan"``) and ``TERM_DESCRIPTIONS``,
  what its ``l1``, ``l2``, ``l3`` mean;
- ``build_head(input_shape)``: the weights after the trunk;
- ``hidden_and_logits(x, training)``;
- ``loss_terms(x, training)``: float32 scalars ``total``, ``l1``, ``l2``, ``l3`` (and what
  its extra metrics track) of one batch — the unsupervised score of ``evaluate`` and of the
  protocol's run selection;
- optionally ``training_terms`` (the training step's terms, ``objective`` if it is not
  ``total``), ``before_train_step`` / ``after_train_step`` (state kept outside the
  gradient), ``optimized_variables`` and ``extra_metrics``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import keras
import numpy as np
import scipy.sparse
import tensorflow as tf

from ddc_tf.checks import is_positive_int, non_negative_number, positive_int
from ddc_tf.data.arrays import check_finite
from ddc_tf.data.pipeline import INPUTS_KEY, NEIGHBORS_KEY
from ddc_tf.losses.reconstruction import relative_reconstruction_error
from ddc_tf.models import networks

#: ``keras.Model.fit``'s batch size when it is given none.
KERAS_DEFAULT_BATCH_SIZE = 32

__all__ = [
    "ClusteringModel",
    "check_n_clusters",
    "in_multi_worker_mode",
    "model_input_shape",
    "num_replicas",
    "parse_proportions",
    "split_neighbors",
]


def check_n_clusters(n_clusters: Any) -> int:
    """``n_clusters`` as an int, or a ValueError unless it is a Python or NumPy integer ≥ 2
    (``y.max() + 1`` works; ``3.0`` does not, as everywhere else in the package)."""
    if not is_positive_int(n_clusters) or n_clusters < 2:
        raise ValueError(f"n_clusters must be an integer ≥ 2, got {n_clusters!r}")
    return int(n_clusters)


def parse_proportions(
    proportions: str | Sequence[float] | None, n_clusters: int, *, allow_free: bool = True
) -> tuple[float, ...] | None:
    """Validate cluster proportions: ``"uniform"``, ``None``/``"free"`` (free) or k positive numbers.

    Numbers are normalised to sum to 1 (so sizes such as ``(500, 300, 200)`` work too).

    Returns:
        A tuple of k floats summing to 1, or ``None`` for a free column marginal.
    """
    if proportions is None or (isinstance(proportions, str) and proportions == "free"):
        if not allow_free:
            raise ValueError("proportions=None (free; --proportions free) is not available here; give 'uniform' or k numbers")
        return None
    if isinstance(proportions, str):
        if proportions != "uniform":
            raise ValueError(
                f"proportions={proportions!r}; expected 'uniform', 'free'/None or {n_clusters} numbers"
            )
        return tuple([1.0 / n_clusters] * n_clusters)
    values = [float(p) for p in proportions]
    if len(values) != n_clusters:
        raise ValueError(f"{len(values)} proportions given for {n_clusters} clusters: {values}")
    if any(not (p > 0 and math.isfinite(p)) for p in values):
        raise ValueError(f"proportions must be positive and finite, got {values}")
    total = sum(values)
    return tuple(p / total for p in values)


def num_replicas() -> int:
    """Replicas in sync when called inside a replica context of a multi-replica strategy, else 1."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return 1
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def in_multi_worker_mode() -> bool:
    """True under a MultiWorkerMirroredStrategy that spans several workers."""
    if not tf.distribute.has_strategy():
        return False
    strategy = tf.distribute.get_strategy()
    extended = getattr(strategy, "extended", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(extended, "_in_multi_worker_mode", lambda: False)()
    )


def _inputs_of(data: Any) -> Any:
    """The inputs of a batch that is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return x


def split_neighbors(x: Any) -> tuple[Any, Any]:
    """``(inputs, neighbours)`` of a batch's inputs: the ``{"inputs", "neighbors"}`` dict of
    ``to_dataset(..., neighbors=...)`` gives both, anything else is ``(x, None)``."""
    if isinstance(x, dict) and INPUTS_KEY not in x:
        raise ValueError(f"a batch dict holds {sorted(x)}; give the inputs as the batch itself (x, or (x, y)), "
                         f"or as {{{INPUTS_KEY!r}: x, {NEIGHBORS_KEY!r}: neighbours}}")
    if isinstance(x, dict) and INPUTS_KEY in x:
        unknown = set(x) - {INPUTS_KEY, NEIGHBORS_KEY}
        if unknown:
            raise ValueError(f"a batch dict holds {sorted(unknown)}; expected the keys {INPUTS_KEY!r}, "
                             f"{NEIGHBORS_KEY!r}")
        return x[INPUTS_KEY], x.get(NEIGHBORS_KEY)
    return x, None


def input_shape_of(data: Any) -> tuple[int | None, ...] | None:
    """``(None, *feature_shape)`` of what ``fit`` is given, when it can be read without
    consuming data: a ``tf.data.Dataset`` (its element spec) or an array with a ``shape``.
    ``None`` otherwise (Keras then builds the model in the first traced step)."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, (tuple, list)):
            spec = spec[0] if spec else None
        spec, _ = split_neighbors(spec)
        shape = getattr(spec, "shape", None)
        if shape is not None and shape.rank is not None and shape.rank < 2:
            raise ValueError(f"the dataset's elements have shape {tuple(shape.as_list())}: single examples, not "
                             "batches of them; batch it (dataset.batch(batch_size)), as ddc_tf.data.to_dataset does")
        if shape is None or shape.rank is None or shape.rank < 2:
            return None
        dims = tuple(shape.as_list()[1:])
    else:
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) < 2:
            return None
        dims = tuple(shape[1:])
    if any(d is None for d in dims):
        return None
    return (None, *(int(d) for d in dims))


def model_input_shape(model: Any) -> tuple[int, ...] | None:
    """The per-example input shape a built Keras model was built with, or None."""
    try:
        shape = model.get_build_config()["input_shape"]
    except (AttributeError, KeyError, TypeError):
        return None
    if shape is None:
        return None
    shape = tuple(shape)[1:]
    if not shape or any(d is None for d in shape):
        return None
    return tuple(int(d) for d in shape)


class ClusteringModel(keras.Model):
    """Base of ``DDC``, ``OTClustering`` and ``DCAN`` (see the module docstring).

    Args:
        n_clusters: number of clusters k (≥ 2).
        backbone: ``"conv"`` (the paper's CNN, for images ``(h, w, c)``), ``"mlp"`` (the
            paper's fully connected net, for vectors ``(d,)``), or any ``keras.Layer`` /
            ``keras.Model`` that maps a batch of inputs to features ``(batch, features)``.
        hidden_units: width of the hidden representation (Dense → ReLU → BatchNorm).
            Default: 100 for ``"conv"``, 500 for ``"mlp"`` (the paper's networks), 100 for
            a custom backbone.
        input_dropout: drop this fraction of the input entries during training (a
            ``keras.layers.Dropout`` before the backbone; 0 = off). Inference is unaffected.
        neighbor_weight: weight of the neighbour term when ``fit`` is given batches that
            pair every point with one of its input-space neighbours
            (``to_dataset(..., neighbors=...)``; ``TrainConfig(neighbors=k)``): the step
            minimises ``objective + neighbor_weight · neighbors`` (what ``neighbors`` is
            depends on the method: ``neighbor_training_terms``); ``None``: the class's
            ``DEFAULT_NEIGHBOR_WEIGHT``. Plain batches train the method's own loss whatever
            this is.
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Call:
        ``model(x)`` → ``(batch, n_clusters)`` float32 cluster probabilities.
    """

    #: Short name of the method (``TrainConfig.method``, exports, results).
    METHOD: ClassVar[str] = ""
    #: What ``l1``, ``l2``, ``l3`` mean for this model (the protocol stores three terms per run).
    TERM_DESCRIPTIONS: ClassVar[dict[str, str]] = {}
    #: A few words for each of ``l1``, ``l2``, ``l3`` (figure legends).
    TERM_LABELS: ClassVar[dict[str, str]] = {}
    #: Which entry of the terms dict each metric tracker is updated with (default: its name;
    #: ``loss`` is updated with ``total``).
    METRIC_INPUTS: ClassVar[dict[str, str]] = {}
    #: ``neighbor_weight`` when none is given (measured per method: README, "Sibling losses").
    DEFAULT_NEIGHBOR_WEIGHT: ClassVar[float] = 1.0

    def __init__(
        self,
        n_clusters: int,
        backbone: str | keras.layers.Layer = "conv",
        hidden_units: int | None = None,
        input_dropout: float = 0.0,
        neighbor_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_clusters = check_n_clusters(n_clusters)
        if isinstance(input_dropout, bool) or not (
            isinstance(input_dropout, (int, float)) and 0.0 <= input_dropout < 1.0
        ):
            raise ValueError(f"input_dropout must be a number in [0, 1), got {input_dropout!r}")
        self.input_dropout = float(input_dropout)
        self.dropout_layer = (
            keras.layers.Dropout(self.input_dropout, name="input_dropout") if self.input_dropout else None
        )
        self.backbone_name, self.backbone = networks.backbone_layer(backbone)
        if hidden_units is None:
            hidden_units = networks.DEFAULT_HIDDEN_UNITS.get(self.backbone_name, 100)
        self.hidden_units = positive_int(hidden_units, "hidden_units")
        self.hidden_layer = networks.hidden_head(self.hidden_units)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = {name: keras.metrics.Mean(name=name) for name in ("l1", "l2", "l3")}
        self.neighbor_weight = non_negative_number(
            self.DEFAULT_NEIGHBOR_WEIGHT if neighbor_weight is None else neighbor_weight, "neighbor_weight"
        )
        self.neighbor_tracker = keras.metrics.Mean(name="neighbors")

    # ----------------------------------------------------------------- building
    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(batch, *input_shape[1:])``."""
        input_shape = networks.build_trunk(
            self.backbone_name, self.backbone, self.hidden_layer, input_shape
        )
        self.build_head(input_shape)
        self.built = True

    def build_head(self, input_shape: tuple[int | None, ...]) -> None:
        """Create the weights after the trunk (``input_shape`` is the model's, batch None)."""

    def build_decoder(self, input_shape: tuple[int | None, ...], code_dim: int) -> None:
        """For methods with a reconstruction term (``self.reconstruction_weight > 0``): a
        decoder mirroring the backbone from a ``code_dim`` code back to the inputs, and the
        running input variance its error is measured against
        (:func:`ddc_tf.losses.reconstruction.relative_reconstruction_error`)."""
        self.decoder = None
        if self.reconstruction_weight > 0:
            self.decoder = networks.make_decoder(self.backbone_name, input_shape[1:])
            self.decoder.build((None, code_dim))
            self.input_variance = self.add_weight(
                shape=(), initializer="zeros", dtype="float32", trainable=False, autocast=False,
                name="input_variance",
            )

    def reconstruction_error(self, x: tf.Tensor, code: tf.Tensor, training: bool) -> tf.Tensor:
        """The decoder's relative reconstruction error of ``x`` from ``code`` (0 without a decoder)."""
        if self.decoder is None:
            return tf.constant(0.0, tf.float32)
        return relative_reconstruction_error(
            x, self.decoder(code, training=training), self.input_variance, training=training
        )

    def _built_for(self, x: Any) -> tf.Tensor:
        """``x`` as a tensor (a scipy sparse batch densified, as ``fit`` and ``predict`` read it),
        after building the model for its shape if needed."""
        if isinstance(x, np.ndarray) or scipy.sparse.issparse(x):
            self._check_array(x)
        if scipy.sparse.issparse(x):
            x = x.toarray()
        x = tf.convert_to_tensor(x) if isinstance(x, np.ndarray) else x
        if not self.built:  # fit() with the TF backend builds in the first trace
            self.build(x.shape)
        return x

    # ----------------------------------------------------------------- forward
    def trunk(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Input dropout → backbone → hidden head: ``(batch, hidden_units)`` in the compute dtype."""
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        return self.hidden_layer(self.backbone(x, training=training), training=training)

    def hidden_and_logits(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(hidden (batch, hidden_units), logits (batch, n_clusters) float32)``: the
        hidden representation and the pre-softmax cluster scores (guided backprop, plots)."""
        raise NotImplementedError

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Cluster probabilities ``(batch, n_clusters)`` float32 (softmax of the logits)."""
        return tf.nn.softmax(tf.cast(self.hidden_and_logits(x, training=training)[1], tf.float32), axis=1)

    def embed(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The hidden representation ``(batch, hidden_units)`` in float32 (``x``: a batch of
        inputs, a tensor, an array or a scipy sparse matrix)."""
        x = self._built_for(x)
        return tf.cast(self.trunk(x, training=training), tf.float32)

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The unsupervised loss of one batch: float32 scalars ``total``, ``l1``, ``l2``,
        ``l3`` (see ``TERM_DESCRIPTIONS``) and what the extra metrics track — not all scalars:
        ``OTClustering``'s also holds the batch's ``assignments`` ``(m, k)`` and its column
        potential ``g`` ``(k,)`` (or None); take the scalars with ``terms[name]`` by name."""
        raise NotImplementedError

    # ----------------------------------------------------------------- training
    def compile(self, optimizer: Any = None, **kwargs: Any) -> None:
        """Like ``keras.Model.compile``; ``optimizer=None`` means Adam at the paper's rate
        for the backbone (1e-3 conv, 1e-5 mlp; 1e-3 for a custom backbone)."""
        if optimizer is None:
            optimizer = networks.paper_optimizer(self.backbone_name)
        if kwargs.get("loss") is not None:
            raise ValueError(
                f"{type(self).__name__} trains with its own unsupervised loss; do not pass loss="
            )
        for name in ("metrics", "weighted_metrics"):
            if kwargs.get(name):
                raise ValueError(
                    f"{type(self).__name__} logs its loss terms as its metrics; {name}= would never be "
                    "computed (for ACC and NMI against labels: ddc_tf.evaluation on predict's clusters)"
                )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Re-compile after ``keras.models.load_model`` (``compile`` is overridden)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x: Any = None, *args: Any, **kwargs: Any) -> keras.callbacks.History:
        """``keras.Model.fit``; an unbuilt model is first built from ``x``'s shape (a
        ``tf.data.Dataset``'s element spec or an array's shape), so that callbacks which
        need weights at the start of training (``BackupAndRestore``) work. ``shuffle``
        defaults to False for a ``tf.data.Dataset`` (which shuffles itself). A NumPy or
        scipy-sparse ``x`` holding NaN or Inf, or fewer points than clusters, is refused (one
        such value makes every weight NaN); a dataset's values are not read ahead
        (``ddc_tf.data`` checks them on loading)."""
        for name in ("sample_weight", "class_weight"):
            if kwargs.get(name) is not None:
                raise ValueError(f"{type(self).__name__}'s loss has no per-point weights; {name}= would be ignored")
        if isinstance(x, np.ndarray) or scipy.sparse.issparse(x):
            self._check_array(x)
            if x.shape[0] < self.n_clusters:
                raise ValueError(f"x: {x.shape[0]} points, fewer than the {self.n_clusters} clusters")
            given = kwargs.get("batch_size", args[1] if len(args) > 1 else None)
            batch_size = KERAS_DEFAULT_BATCH_SIZE if given is None else given
            if min(int(batch_size), x.shape[0]) < self.n_clusters:
                default = " (Keras' default)" if given is None else ""
                raise ValueError(
                    f"batch_size={batch_size}{default} is less than the {self.n_clusters} clusters: the loss is "
                    f"formed on one batch, which "
                    f"must be able to hold a point of every cluster; pass fit(x, batch_size=...) of at least "
                    f"{self.n_clusters} (a few times the clusters is better)")
        shape = input_shape_of(x)  # also refuses a dataset of single examples, built or not
        if not self.built:
            if shape is not None:
                # In the strategy the model was made in (the usual tf.distribute pattern makes
                # and compiles it in strategy.scope() and calls fit outside), as Keras would.
                with self.distribute_strategy.scope():
                    self.build(shape)
        if self.built and self.optimizer is not None and not self.optimizer.built:
            # Its slots made now, not inside the first trace of the train function: a
            # tf.function that creates variables is traced twice (a second ~1–2 s per run).
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)
        if isinstance(x, tf.data.Dataset) and len(args) < 8:  # shuffle not given by position
            # A dataset shuffles itself; Keras ignores shuffle=True for it, with a warning.
            kwargs.setdefault("shuffle", False)
        return super().fit(x, *args, **kwargs)

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """``keras.Model.predict``: ``(n, n_clusters)`` float32 cluster probabilities; an empty
        NumPy or sparse ``x`` gives an empty ``(0, n_clusters)`` array (Keras fails on it)."""
        if isinstance(x, np.ndarray) or scipy.sparse.issparse(x):
            self._check_array(x)
            if x.shape[0] == 0:
                return np.zeros((0, self.n_clusters), np.float32)
        return super().predict(x, *args, **kwargs)

    def save(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        """``keras.Model.save``, to a ``.keras`` file; the legacy ``.h5`` format is refused: it
        cannot store this subclassed model (the file saves but does not load back)."""
        if str(filepath).lower().endswith((".h5", ".hdf5")):
            raise ValueError(f"{filepath}: the legacy HDF5 format cannot store a {type(self).__name__} (it saves "
                             "but does not load back); save to a .keras file")
        super().save(filepath, *args, **kwargs)

    def _check_array(self, x: Any) -> None:
        """A ValueError for an array (NumPy or scipy sparse) ``x`` that holds NaN or Inf, or —
        for a built model with a paper backbone — whose examples have another shape than it was
        built for (Keras would fail deep in the graph, naming a layer). A custom backbone may
        take other shapes (global pooling): its shape is not checked."""
        check_finite(x, "x")
        expected = model_input_shape(self) if self.built and self.backbone_name != "custom" else None
        if expected is None or tuple(x.shape[1:]) == expected:
            return
        wanted = ", ".join(str(d) for d in expected)
        if tuple(x.shape) == expected:
            raise ValueError(f"x: one example of shape {tuple(x.shape)}; the model takes a batch (n, {wanted}): "
                             "add the batch axis (e.g. x[None])")
        raise ValueError(f"x: examples of shape {tuple(x.shape[1:])} (x has shape {tuple(x.shape)}); "
                         f"the model was built for (n, {wanted})")

    def extra_metrics(self) -> list[keras.metrics.Metric]:
        """Metrics shown after ``loss, l1, l2, l3`` (none by default)."""
        return []

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, *self.term_trackers.values(), *self.extra_metrics(), self.neighbor_tracker]

    def update_metrics(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Update the trackers of the terms in ``terms`` and return the logs of a step
        (a tracker whose term a step does not compute — ``neighbors`` outside
        neighbour-pair training — is neither updated nor logged)."""
        updated = []
        for metric in self.metrics:
            key = "total" if metric.name == "loss" else self.METRIC_INPUTS.get(metric.name, metric.name)
            if key in terms:
                metric.update_state(terms[key])
                updated.append(metric)
        logs = {m.name: m.result() for m in updated}
        if in_multi_worker_mode():
            # Keras reduces the logs of a multi-worker step with strategy.reduce(MEAN, v,
            # axis=0), which rejects scalars: hand it shape (1,) values (reduced to scalars).
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def before_train_step(self, x: tf.Tensor) -> None:
        """Hook: state changes before the gradient step (none by default)."""

    def fitted_to_partition(self) -> None:
        """Hook: the fresh network was fitted to a partition before training (a refined
        run's start); state that would otherwise be set up at the first step is in place."""

    def training_terms(self, x: tf.Tensor, tape: tf.GradientTape) -> dict[str, tf.Tensor]:
        """The training step's terms, computed under ``tape``; ``objective`` (default
        ``total``) is what is differentiated."""
        return self.loss_terms(x, training=True)

    def neighbor_training_terms(
        self, x: tf.Tensor, neighbors: tf.Tensor, tape: tf.GradientTape
    ) -> dict[str, tf.Tensor]:
        """The training step's terms on a batch whose every point comes with one of its
        input-space neighbours ``(batch, *input_shape)``: the method's terms of the points,
        ``neighbors`` (how far each point's cluster is from its neighbour's) and
        ``objective`` + ``neighbor_weight · neighbors``. Each method implements it (points
        and neighbours through the network in one pass, so batch norm sees both), with
        :meth:`paired_inputs` and :meth:`with_neighbor_term`."""
        raise ValueError(
            f"{type(self).__name__} does not train on neighbour pairs; give it batches of inputs "
            "(to_dataset without neighbors=, TrainConfig(neighbors=0))"
        )

    @staticmethod
    def paired_inputs(x: tf.Tensor, neighbors: tf.Tensor) -> tuple[tf.Tensor, Any]:
        """``(points and neighbours stacked (2m, ...), m)``; m static when the batch size is.
        A ValueError (InvalidArgumentError when the batch size is only known as the graph
        runs; XLA drops that check) when ``neighbors`` has another number of rows than ``x``:
        row i of each is one pair, and a shorter half would be broadcast or misaligned."""
        rows, partner_rows = x.shape[0], neighbors.shape[0]
        if rows is not None and partner_rows is not None:
            if rows != partner_rows:
                raise ValueError(f"a neighbour batch pairs row by row: {rows} points but {partner_rows} neighbours")
            return tf.concat([x, tf.cast(neighbors, x.dtype)], axis=0), rows
        check = tf.debugging.assert_equal(
            tf.shape(x)[0], tf.shape(neighbors)[0],
            message="a neighbour batch pairs row by row: the points and their neighbours differ in number")
        with tf.control_dependencies([check]):
            m = tf.identity(tf.shape(x)[0]) if rows is None else rows
            return tf.concat([x, tf.cast(neighbors, x.dtype)], axis=0), m

    def with_neighbor_term(self, terms: dict[str, tf.Tensor], neighbor_term: tf.Tensor) -> dict[str, tf.Tensor]:
        """``terms`` with ``neighbors`` = ``neighbor_term`` and the objective it adds to."""
        terms["neighbors"] = neighbor_term
        terms["objective"] = terms.get("objective", terms["total"]) + self.neighbor_weight * neighbor_term
        return terms

    def optimized_variables(self) -> list[keras.Variable]:
        """The variables the optimizer updates with the objective's gradient."""
        return self.trainable_variables

    def after_train_step(self, terms: dict[str, tf.Tensor]) -> None:
        """Hook: state changes after the gradient step (none by default)."""

    def step_objective(
        self, x: tf.Tensor, neighbors: tf.Tensor | None, tape: tf.GradientTape
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """``(terms, objective)`` of a training step on the batch ``x`` (with its neighbour
        partners, or ``None``), computed under ``tape``: the objective is ``terms["objective"]``
        (default ``total``) plus the weight regularisers of a custom backbone."""
        if neighbors is None:
            terms = self.training_terms(x, tape)
        else:
            terms = self.neighbor_training_terms(x, neighbors, tape)
        objective = terms.get("objective", terms["total"])
        if self.losses:  # weight regularisers of a custom backbone
            objective = objective + tf.add_n([tf.cast(l, tf.float32) for l in self.losses])
        return terms, objective

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, neighbors = split_neighbors(_inputs_of(data))
        x = self._built_for(x)
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        self.before_train_step(x)
        with tf.GradientTape() as tape:
            terms, loss = self.step_objective(x, neighbors, tape)
            replicas = num_replicas()
            if replicas > 1:
                # The optimizer sums gradients over replicas: divide by R for their mean
                # (for DDC's global kernel, see DDC.loss_terms: the sum is R · dL/dθ too).
                loss = loss / tf.cast(replicas, loss.dtype)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.optimized_variables()
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(gradients, variables)
        self.after_train_step(terms)
        return self.update_metrics(terms)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, _ = split_neighbors(_inputs_of(data))  # the score is the loss of the points themselves
        x = self._built_for(x)
        return self.update_metrics(self.loss_terms(x, training=False))

    def predict_step(self, data: Any) -> tf.Tensor:
        return self(split_neighbors(_inputs_of(data))[0], training=False)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            n_clusters=self.n_clusters,
            backbone=networks.backbone_to_config(self.backbone_name, self.backbone),
            hidden_units=self.hidden_units,
            input_dropout=self.input_dropout,
            neighbor_weight=self.neighbor_weight,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ClusteringModel":
        return cls(**networks.backbone_from_config(config))

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the model: method, backbone by name, the constructor's
        settings and the parameter count (export metadata, results files)."""
        config = self.get_config()
        out: dict[str, Any] = {"method": self.METHOD}
        for key, value in config.items():
            if key in ("name", "trainable", "dtype"):
                continue
            out[key] = self.backbone_name if key == "backbone" else value
        out["parameters"] = int(self.count_params()) if self.built else None
        return out
