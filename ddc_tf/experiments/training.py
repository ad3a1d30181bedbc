"""One DDC training run on an in-memory data set, and what is computed from a trained model.

``train_run`` builds a fresh model for a :class:`TrainConfig`, trains it for exactly
``config.steps`` mini-batches with ``model.fit`` (mini-batch order reshuffled every pass
over the data), and can resume after an interruption. ``dataset_loss`` scores a trained
model by its unsupervised loss over the whole data set (batches of a fixed, seeded random
permutation of the points, no labels) — the paper's criterion for picking a run — and
``predict_assignments`` gives the cluster probabilities of every point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from ddc_tf import baselines, losses
from ddc_tf.models import networks
from ddc_tf.data import ArrayData, to_dataset
from ddc_tf.data.arrays import check_finite, require_array_data
from ddc_tf.data.neighbors import nearest_neighbors
from ddc_tf.checks import (
    is_whole_number, loss_weights, non_negative_int, non_negative_number, positive_number, random_seed,
)
from ddc_tf.experiments.distill import distill
from ddc_tf.experiments.inference import infer, predict_assignments  # re-exported: part of this module's API
from ddc_tf.experiments.resume import (
    ChunkCheckpoint, backup_key, pretraining_backup, pretraining_fingerprint, resumed_message,
)
from ddc_tf.models import METHODS, ClusteringModel
from ddc_tf.models.base import parse_proportions
from ddc_tf.models.optimizers import FusedAdam
from ddc_tf.options import LR_SCHEDULES, STRATEGIES  # the values of lr_schedule and strategy

__all__ = [
    "TrainConfig",
    "resolve_backbone",
    "build_model",
    "train_run",
    "prepare_start",
    "PartitionStart",
    "kmeans_start",
    "dataset_loss",
    "evaluation_order",
    "EVALUATION_SEED",
    "predict_assignments",
]

#: Seed of the fixed random permutation that whole-data-set scores are taken on
#: (``evaluation_order``): the same for every run, so runs are compared on the same batches.
EVALUATION_SEED = 0

#: fit() shows this many progress lines per run (Keras "epochs" are logging chunks here;
#: the data itself is reshuffled at every pass over it, independently of these chunks).
LOG_CHUNKS = 10

#: At most this many training steps run per call of the compiled train function
#: (Keras ``steps_per_execution``; ``steps_per_call``): one Python round trip, one iterator
#: hand-off and one round of callbacks per call instead of per step. The steps and their
#: results are the same; measured: ``benchmarks/steps_per_call.py``.
MAX_STEPS_PER_CALL = 20


@dataclass
class TrainConfig:
    """Hyper-parameters of one DDC run (paper §4.6 defaults where the paper has one).

    Attributes:
        n_clusters: number of clusters k.
        backbone: ``"conv"``, ``"mlp"`` or ``"auto"`` (conv for images ≥ 16×16, else mlp).
        steps: number of training mini-batches (the paper uses 70 000).
        batch_size: mini-batch size m (100 in the paper).
        learning_rate: Adam learning rate; ``None`` = ``networks.DEFAULT_LEARNING_RATES``
            (1e-3 for both; the paper's MLP rate 1e-5 is for 70 000 steps).
        rel_sigma: relative kernel bandwidth (0.15).
        sigma_mode: ``"reference"`` or ``"paper"`` bandwidth convention.
        loss_weights: weights of ``l1, l2, l3``.
        hidden_units: width of the hidden representation; ``None`` = paper's (100 / 500).
        drop_remainder: drop the last partial batch of each pass (fixed batch shape: every
            batch has m points, and XLA compiles one shape).
        jit_compile: compile the train step with XLA.
        method: the clustering loss: ``"ddc"`` (this package's DDC), ``"ot"`` (optimal
            transport with size constraints, :class:`ddc_tf.models.ot.OTClustering`) or
            ``"dcan"`` (adversarial, :class:`ddc_tf.models.dcan.DCAN`). ``rel_sigma``,
            ``sigma_mode`` and ``loss_weights`` apply to DDC only.
        epsilon: entropic regularisation of ``"ot"``; ``None`` = its default.
        proportions: cluster proportions for ``"ot"`` (column marginal), ``"dcan"``
            (mixture weights) and ``"ddc"`` (the size-aware ``l2``): ``"uniform"``, k positive
            numbers, or ``None`` (``"ot"`` only: no size constraint, soft k-means).
        clipnorm: clip the global norm of the gradient at this value (Adam's
            ``global_clipnorm``); ``None`` = no clipping.
        lr_schedule: ``"constant"`` or ``"cosine"`` (cosine decay from ``learning_rate``
            to 0 over ``steps``).
        weight_decay: decoupled weight decay of Adam (AdamW-style: each step every weight
            shrinks by ``learning_rate · weight_decay`` of itself); ``None`` = none.
        input_dropout: DDC only: fraction of input entries dropped during training
            (``DDC(input_dropout=...)``); 0 = off.
        strategy: ``tf.distribute`` strategy for training: ``"none"`` (default device),
            ``"mirrored"`` (``MirroredStrategy``: all local GPUs, or the CPU) or
            ``"multiworker"`` (``MultiWorkerMirroredStrategy``, hosts from ``TF_CONFIG``).
            ``batch_size`` is the global batch; DDC forms its kernel on the global batch
            (``DDC(kernel="global")``); the siblings compute their loss per replica. See
            ``docs/distributed.md``.
        pretrain_steps: ``"ot"``/``"dcan"`` only: first train DDC (same backbone, hidden
            width, seed and batches) for this many steps and start the sibling's backbone and
            hidden head from its weights (the pretrained feature extractor DCAN's author
            recommends); ``None`` or 0 = from scratch.
        model_options: further keyword arguments of the method's constructor, for the
            settings this config has no field for (e.g. ``{"reconstruction_weight": 0.3}``
            or ``{"iterations": 100}`` for ``"ot"``; ``{"separation": 3.0}`` for ``"dcan"``).
            Checked against the constructor's signature; values must be JSON numbers,
            strings, booleans or lists of them (they are stored in ``results.json``).
        neighbors: k > 0 pairs every training point with one of its k nearest
            input-space neighbours (cosine for non-negative inputs, else Euclidean;
            ``ddc_tf.data.neighbors``) and adds a neighbour term to the training objective
            (DDC: ``ddc_tf.losses.neighbor_consistency``; OT, DCAN: the latent distance
            ``ddc_tf.losses.neighbor_distance``); 0 (default) trains the method's own loss.
            ``ddc-tf fit``'s default: ``ddc_tf.options.default_neighbors``.
        neighbor_weight: weight of that term (the model's ``neighbor_weight``; used when
            ``neighbors`` > 0); ``None``: the method's ``DEFAULT_NEIGHBOR_WEIGHT`` (DDC and
            OT 1, DCAN 0.1).
        balance_weight: DDC only: weight of the balance term that trains beside the
            neighbour term (``DDC(balance_weight=...)``, ``ddc_tf.losses.cluster_balance``;
            used when ``neighbors`` > 0); ``None``: ``DDC.DEFAULT_BALANCE_WEIGHT``.
        kmeans_init: DDC only: > 0 first fits the fresh network this many mini-batches to a
            k-means++ partition of the inputs (one initialisation seeded by the run's seed;
            cross-entropy, as ``ddc_tf.experiments.distill``), then trains DDC from there
            (:func:`kmeans_start`); 0 (default) starts from the random initialisation, as the
            paper. It lifted single runs on digits and 20news but keeps DDC in k-means' convex
            clusters where the data's are not (circles); README "Beating k-means", item 9.
    """

    n_clusters: int
    backbone: str = "auto"
    steps: int = 3000
    batch_size: int = 100
    learning_rate: float | None = None
    rel_sigma: float = losses.DEFAULT_REL_SIGMA
    sigma_mode: str = losses.DEFAULT_SIGMA_MODE
    loss_weights: Sequence[float] = field(default=(1.0, 1.0, 1.0))
    hidden_units: int | None = None
    drop_remainder: bool = True
    jit_compile: bool = False
    method: str = "ddc"
    epsilon: float | None = None
    proportions: str | Sequence[float] | None = "uniform"
    strategy: str = "none"
    clipnorm: float | None = None
    lr_schedule: str = "constant"
    weight_decay: float | None = None
    input_dropout: float = 0.0
    pretrain_steps: int | None = None
    model_options: Mapping[str, Any] | None = None
    neighbors: int = 0
    neighbor_weight: float | None = None
    balance_weight: float | None = None
    kmeans_init: int = 0

    def __post_init__(self) -> None:
        for name in ("n_clusters", "steps", "batch_size"):
            value = getattr(self, name)
            if not is_whole_number(value):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            setattr(self, name, int(value))
        if self.n_clusters < 2:
            raise ValueError(f"n_clusters must be ≥ 2, got {self.n_clusters}")
        if self.steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.steps}")
        if self.sigma_mode not in losses.SIGMA_MODES:
            raise ValueError(f"sigma_mode={self.sigma_mode!r}; expected one of {losses.SIGMA_MODES}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be ≥ 2 (the kernel needs pairs), got {self.batch_size}")
        if self.n_clusters > self.batch_size:
            raise ValueError(
                f"n_clusters={self.n_clusters} is more than batch_size={self.batch_size}: the loss is formed "
                f"on one batch, which must be able to hold a point of every cluster; give a batch_size of "
                f"at least {self.n_clusters} (batch_size=, or --batch-size on the command line; a few times "
                "the clusters is better)"
            )
        if self.learning_rate is not None:
            self.learning_rate = positive_number(self.learning_rate, "learning_rate")
        self.rel_sigma = positive_number(self.rel_sigma, "rel_sigma")
        self.loss_weights = loss_weights(self.loss_weights)
        check_backbone_name(self.backbone)
        for name in ("clipnorm", "weight_decay"):
            if getattr(self, name) is not None:
                setattr(self, name, positive_number(getattr(self, name), f"{name} (or None)"))
        if not (isinstance(self.input_dropout, (int, float)) and 0.0 <= self.input_dropout < 1.0):
            raise ValueError(f"input_dropout must be a number in [0, 1), got {self.input_dropout!r}")
        if self.input_dropout and self.method != "ddc":
            raise ValueError("input_dropout applies to method 'ddc' only")
        if self.pretrain_steps is not None:  # 0, as on the command line, is None: from scratch
            self.pretrain_steps = non_negative_int(self.pretrain_steps, "pretrain_steps") or None
        if self.pretrain_steps is not None and self.method == "ddc":
            raise ValueError("pretrain_steps applies to methods 'ot' and 'dcan' (their backbone starts from DDC's)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule={self.lr_schedule!r}; expected one of {LR_SCHEDULES}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r}; expected one of {STRATEGIES}")
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; expected one of {tuple(METHODS)}")
        if self.epsilon is not None and self.method != "ot":
            raise ValueError(f"epsilon applies to method 'ot' (got epsilon={self.epsilon!r} with {self.method!r})")
        if self.epsilon is not None and not self.epsilon > 0:
            raise ValueError(f"epsilon must be a number > 0 for method 'ot', got {self.epsilon!r}")
        free_sizes = self.proportions is None or (isinstance(self.proportions, str) and self.proportions == "free")
        if free_sizes and self.method != "ot":
            raise ValueError(f"proportions={self.proportions!r} (no size constraint) is for method 'ot'; "
                             f"method {self.method!r} takes 'uniform' or {self.n_clusters} numbers")
        if not (isinstance(self.proportions, str) and self.proportions == "uniform"):
            parse_proportions(self.proportions, self.n_clusters)  # free sizes: OT only, checked above
            if self.proportions is not None and not isinstance(self.proportions, str):
                self.proportions = tuple(float(p) for p in self.proportions)
        if self.model_options is not None:
            self.model_options = check_model_options(self.method, self.model_options)
        self.neighbors = non_negative_int(self.neighbors, "neighbors", " (neighbours per point; 0 = off)")
        if self.neighbor_weight is None:
            self.neighbor_weight = METHODS[self.method].DEFAULT_NEIGHBOR_WEIGHT
        self.neighbor_weight = non_negative_number(self.neighbor_weight, "neighbor_weight")
        if self.balance_weight is None:
            self.balance_weight = getattr(METHODS[self.method], "DEFAULT_BALANCE_WEIGHT", 0.0)
        self.balance_weight = non_negative_number(self.balance_weight, "balance_weight")
        if self.balance_weight and self.method != "ddc":
            raise ValueError(f"balance_weight applies to method 'ddc' (got {self.balance_weight} with {self.method!r})")
        if self.balance_weight and not self.neighbors:
            raise ValueError(f"balance_weight={self.balance_weight} weighs the balance term, which trains beside the "
                             "neighbour term, off here (neighbors=0; the default for the CNN); give neighbors=K "
                             "(e.g. 5) or drop it")
        if self.neighbors and self.strategy != "none":
            raise ValueError("neighbour-pair training runs on one device: use neighbors=0 with a tf.distribute strategy")
        self.kmeans_init = non_negative_int(self.kmeans_init, "kmeans_init", " (mini-batches; 0 = off)")
        if self.kmeans_init and self.method != "ddc":
            raise ValueError("kmeans_init applies to method 'ddc' (the siblings start from DDC: pretrain_steps)")
        if self.kmeans_init and self.strategy != "none":
            raise ValueError("the k-means start runs on one device: use kmeans_init=0 with a tf.distribute strategy")

    def to_dict(self) -> dict[str, Any]:
        config = {**dataclasses.asdict(self), "loss_weights": list(self.loss_weights)}
        if isinstance(self.proportions, tuple):
            config["proportions"] = list(self.proportions)
        if self.strategy == "none":  # runs keep the signature they had before distribution
            config.pop("strategy")
        for key, default in (("clipnorm", None), ("lr_schedule", "constant"), ("weight_decay", None),
                             ("input_dropout", 0.0), ("pretrain_steps", None), ("model_options", None),
                             ("neighbors", 0), ("kmeans_init", 0)):
            if config[key] == default:  # ... and before these options
                config.pop(key)
        if not self.neighbors:
            config.pop("neighbor_weight")
        if not self.neighbors or not self.balance_weight:  # runs keep the signature they had before it
            config.pop("balance_weight")
        if self.method == "ddc":  # DDC runs keep the signature they had before the siblings
            for key in ("method", "epsilon"):
                config.pop(key)
            if config["proportions"] == "uniform":  # ... and before its size-aware l2
                config.pop("proportions")
        return config


#: Constructor arguments ``TrainConfig`` sets from its own fields (or the model sets itself):
#: not accepted in ``model_options``.
_CONFIG_OWNED = {"self", "n_clusters", "backbone", "hidden_units", "proportions", "epsilon", "rel_sigma",
                 "sigma_mode", "loss_weights", "input_dropout", "balance_weight", "neighbor_weight", "kwargs", "seed"}


def check_model_options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as a plain dict, after checking each key is a constructor argument of
    ``METHODS[method]`` that ``TrainConfig`` does not set itself, with a JSON-storable value."""
    if not isinstance(options, Mapping):
        raise ValueError(f"model_options must be a mapping of argument names to values, got {type(options).__name__}")
    accepted = set(inspect.signature(METHODS[method].__init__).parameters) - _CONFIG_OWNED
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in accepted:
            raise ValueError(f"model_options: {key!r} is not an option of method {method!r}; "
                             f"expected some of {sorted(accepted)} (the others are TrainConfig fields)")
        if isinstance(value, tuple):
            value = list(value)
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (bool, int, float, str)) for v in items):
            raise ValueError(f"model_options[{key!r}] must be a number, string, boolean or a list of them, got {value!r}")
        checked[key] = value
    return checked


def resolve_learning_rate(learning_rate: float | None, backbone: str) -> float:
    """``learning_rate``, or the backbone's default (``networks.DEFAULT_LEARNING_RATES``) for None."""
    return learning_rate or networks.DEFAULT_LEARNING_RATES[backbone]


def check_backbone_name(backbone: Any) -> None:
    """A ValueError unless ``backbone`` is ``"auto"`` or a paper backbone's name."""
    if backbone != "auto" and backbone not in networks.BACKBONES:
        raise ValueError(f"backbone={backbone!r}; expected 'auto' or one of {networks.BACKBONES}")


def resolve_backbone(backbone: str, data: ArrayData) -> str:
    """``"auto"`` → ``"conv"`` for images of at least 16×16, ``"mlp"`` otherwise."""
    if backbone != "auto":
        check_backbone_name(backbone)
        return backbone
    shape = data.input_shape
    if data.kind == "image" and len(shape) == 3 and min(shape[:2]) >= networks.MIN_CONV_SIZE:
        return "conv"
    return "mlp"


_STRATEGY_CACHE: dict[str, Any] = {}


def make_strategy(name: str) -> Any:
    """The process's ``tf.distribute`` strategy for ``name`` (``"mirrored"`` or
    ``"multiworker"``), created once and reused (a MultiWorkerMirroredStrategy must be
    created once, before the first collective op)."""
    import tensorflow as tf

    if name not in _STRATEGY_CACHE:
        if name == "mirrored":
            # every local GPU; without GPUs every logical CPU device (one, unless several
            # were configured with tf.config.set_logical_device_configuration)
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            _STRATEGY_CACHE[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
        elif name == "multiworker":
            _STRATEGY_CACHE[name] = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            raise ValueError(f"strategy={name!r}; expected 'mirrored' or 'multiworker'")
    return _STRATEGY_CACHE[name]


def build_model(config: TrainConfig, data: ArrayData) -> ClusteringModel:
    """A fresh, compiled model of ``config.method`` for ``data`` (weights depend on the
    global Keras seed): DDC, OTClustering or DCAN, all with the same backbone and Adam.
    With ``config.strategy`` set, the model and its optimizer are created in that
    strategy's scope (``model.fit`` then trains data-parallel)."""
    if config.strategy != "none":
        with make_strategy(config.strategy).scope():
            return build_model(dataclasses.replace(config, strategy="none"), data)
    backbone = resolve_backbone(config.backbone, data)
    learning_rate = resolve_learning_rate(config.learning_rate, backbone)
    options: dict[str, Any] = {"n_clusters": config.n_clusters, "backbone": backbone,
                               "hidden_units": config.hidden_units}
    if config.method == "ot":
        options.update(proportions=config.proportions)
        if config.epsilon is not None:
            options.update(epsilon=config.epsilon)
    elif config.method == "dcan":
        options.update(proportions=config.proportions)
    else:
        options.update(
            rel_sigma=config.rel_sigma,
            sigma_mode=config.sigma_mode,
            loss_weights=config.loss_weights,
            input_dropout=config.input_dropout,
            proportions=config.proportions,
        )
    if config.neighbors:
        options.update(neighbor_weight=config.neighbor_weight)
        if config.method == "ddc":
            options.update(balance_weight=config.balance_weight)
    options.update(config.model_options or {})
    model = METHODS[config.method](**options)
    model.build((None, *data.input_shape))
    model.compile(optimizer=make_optimizer(config, learning_rate), jit_compile=config.jit_compile)
    return model


def make_optimizer(config: TrainConfig, learning_rate: float) -> keras.optimizers.Optimizer:
    """Adam (:class:`ddc_tf.models.optimizers.FusedAdam`) at ``learning_rate`` with ``config``'s
    schedule, gradient clipping and weight decay."""
    rate: Any = learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=config.steps)
    return FusedAdam(
        learning_rate=rate, global_clipnorm=config.clipnorm, weight_decay=config.weight_decay
    )


class StopAfterSteps(keras.callbacks.Callback):
    """Stops ``fit`` after exactly ``steps`` training batches.

    ``steps_per_epoch`` lets it count from the right place when ``fit`` starts at a later
    epoch (a run resumed from its backup, ``ddc_tf.experiments.resume``). It counts by the
    batch index Keras reports, so it is exact with several steps per call too (then
    ``steps`` must end a call: ``steps_per_call`` sees to it).
    """

    def __init__(self, steps: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.steps = steps
        self.steps_per_epoch = steps_per_epoch
        self.epoch_start = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_start = epoch * self.steps_per_epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.epoch_start + batch + 1 >= self.steps:
            self.model.stop_training = True


def steps_per_call(steps: int, chunk: int, *, per_step_callbacks: bool = False, strategy: str = "none") -> int:
    """How many training steps one call of the compiled train function runs for a run of
    ``steps`` batches logged every ``chunk``: the largest divisor of both (so every chunk and
    the run's end fall on a call's end) up to ``MAX_STEPS_PER_CALL``; 1 with callbacks that
    act per step (curves, TensorBoard: they would only see every n-th step) or under a
    ``tf.distribute`` strategy."""
    if per_step_callbacks or strategy != "none":
        return 1
    common = math.gcd(steps, chunk)
    return max(d for d in range(1, min(common, MAX_STEPS_PER_CALL) + 1) if common % d == 0)


@contextlib.contextmanager
def calls_of(model: keras.Model, steps: int) -> Any:
    """Within the block, ``model.fit`` runs ``steps`` training steps per call of its compiled
    train function (Keras ``steps_per_execution``); the model's own setting (what it was
    compiled and is saved with) is restored afterwards."""
    previous = model.steps_per_execution
    if steps == previous:
        yield model
        return
    model.steps_per_execution = steps
    model.make_train_function(force=True)
    try:
        yield model
    finally:
        model.steps_per_execution = previous
        model.train_function = None  # rebuilt with the model's own setting at its next fit


def check_trainable(data: ArrayData, config: TrainConfig) -> None:
    """A clear error when ``data`` is not an ``ArrayData``, holds NaN or Inf, or is too small
    for ``config`` (fewer points than clusters, or than one batch when partial batches are
    dropped)."""
    require_array_data(data)
    check_finite(data.x, data.name)
    if data.n < config.n_clusters:
        raise ValueError(f"{data.name}: {data.n} points but {config.n_clusters} clusters")
    if config.drop_remainder and data.n < config.batch_size:
        raise ValueError(
            f"{data.name}: {data.n} points is fewer than one batch of {config.batch_size}; "
            "lower the batch size (--batch-size) or keep partial batches (--keep-partial-batches; "
            "drop_remainder=False in Python)"
        )


def chunking(steps: int) -> tuple[int, int]:
    """``(chunk, epochs)``: a run of ``steps`` batches trains in ``fit`` epochs of ``chunk``
    batches (``LOG_CHUNKS`` of them; the history and the backups are per chunk)."""
    chunk = max(1, math.ceil(steps / LOG_CHUNKS))
    return chunk, math.ceil(steps / chunk)


def neighbors_for(data: ArrayData, config: TrainConfig, neighbors: np.ndarray | None) -> np.ndarray | None:
    """The ``(n, k)`` neighbour graph a run of ``config`` trains on: ``None`` without
    ``config.neighbors``; else ``neighbors`` checked, or searched when ``None``."""
    if not config.neighbors:
        return None
    if neighbors is None:
        return nearest_neighbors(data, config.neighbors, n_jobs=-1)
    if np.shape(neighbors) != (data.n, config.neighbors):
        raise ValueError(f"neighbors has shape {np.shape(neighbors)}; config.neighbors={config.neighbors} "
                         f"on {data.n} points needs ({data.n}, {config.neighbors})")
    return neighbors


def training_stream(
    data: ArrayData, config: TrainConfig, seed: int, *, start_batch: int = 0, neighbors: np.ndarray | None = None
) -> Any:
    """The endless ``tf.data.Dataset`` of training batches of the run with ``seed`` (reshuffled every
    pass; from batch ``start_batch`` on, so a resumed run goes on with the batches it has
    not seen; neighbour pairs with ``neighbors``)."""
    return to_dataset(
        data,
        batch_size=config.batch_size,
        shuffle=True,
        seed=seed,
        drop_remainder=config.drop_remainder,
        with_labels=False,
        repeat=True,
        start_batch=start_batch,
        neighbors=neighbors,
    )


def train_run(
    data: ArrayData,
    config: TrainConfig,
    seed: int,
    *,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backup_dir: str | os.PathLike | None = None,
    fingerprint: str | None = None,
    neighbors: np.ndarray | None = None,
    start: PartitionStart | None = None,
) -> tuple[ClusteringModel, dict[str, list[float]]]:
    """Train one fresh model of ``config.method`` on ``data`` for ``config.steps`` mini-batches.

    Args:
        data: the training data (labels, if any, are not used).
        config: hyper-parameters.
        seed: seeds the weights and the mini-batch order (deterministic on CPU).
        verbose: Keras ``fit`` verbosity.
        callbacks: extra Keras callbacks (TensorBoard, CSVLogger, ...).
        backup_dir: if given, training state is backed up there after every logging chunk
            and an interrupted run resumes from it exactly (:mod:`ddc_tf.experiments.resume`:
            weights, optimizer and seed states, the batch stream's position, the history).
        fingerprint: identifies the data and configuration of the backup (a backup with
            another fingerprint is refused).
        neighbors: with ``config.neighbors`` = k > 0, the ``(n, k)`` neighbour indices of
            ``data`` (``ddc_tf.data.neighbors.nearest_neighbors``), when the caller already
            has them (the protocol computes them once for all its runs); ``None``: computed here.
        start: a partition to fit the fresh network to before training (:class:`PartitionStart`;
            the protocol's refined runs start from DDC-ENSEMBLE); ``None``: :func:`prepare_start`'s
            usual start.

    Returns:
        The trained model and the ``fit`` history (``loss``, ``l1``, ``l2``, ``l3`` per chunk).
    """
    check_trainable(data, config)
    seed = random_seed(seed)
    keras.utils.set_random_seed(seed)
    model = build_model(config, data)
    chunk, epochs = chunking(config.steps)
    checkpoint = ChunkCheckpoint(backup_dir, fingerprint) if backup_dir is not None else None
    done = checkpoint.restore(model) if checkpoint is not None else 0
    if done and verbose:
        print(resumed_message([seed], done * chunk, config.steps), flush=True)
    neighbors = neighbors_for(data, config, neighbors)
    if not done:
        prepare_start(model, data, config, seed, neighbors, start, verbose=verbose,
                      backup_dir=backup_dir, fingerprint=fingerprint)
    dataset = training_stream(data, config, seed, start_batch=done * chunk, neighbors=neighbors)
    all_callbacks = [StopAfterSteps(config.steps, chunk), *callbacks]
    if checkpoint is not None:
        all_callbacks.append(checkpoint)  # last: it records the chunk's logs, then saves
    per_call = steps_per_call(config.steps, chunk, per_step_callbacks=bool(callbacks), strategy=config.strategy)
    with calls_of(model, per_call):
        history = model.fit(
            dataset,
            initial_epoch=done,
            epochs=epochs,
            steps_per_epoch=chunk,
            callbacks=all_callbacks,
            verbose=verbose,
            shuffle=False,  # the dataset reshuffles itself every pass; fit cannot shuffle a tf.data stream
        )
    logged = checkpoint.history if checkpoint is not None else history.history
    return model, {k: [float(v) for v in vals] for k, vals in logged.items()}


@dataclass(frozen=True, eq=False)
class PartitionStart:
    """A partition a fresh run's network is fitted to before its own training.

    Attributes:
        partition: ``(n,)`` int cluster ids of the training points (e.g. DDC-ENSEMBLE's).
        steps: mini-batches of cross-entropy towards it (``ddc_tf.experiments.distill.distill``).
        origin: what the partition is, JSON-able (the protocol's refined runs:
            ``{"from": "ddc_ensemble", "seeds": [...]}``); part of the run's signature.
    """

    partition: np.ndarray
    steps: int
    origin: Mapping[str, Any] = field(default_factory=dict)

    def signature(self) -> dict[str, Any]:
        """How a run's record names this start: ``origin``, a digest of the partition (so a run
        started from another partition — the ensemble of runs trained again — is not taken for
        this one) and ``steps``."""
        return {**self.origin, "partition": partition_digest(self.partition), "steps": int(self.steps)}


def partition_digest(partition: np.ndarray) -> str:
    """A short digest (16 hex digits) of a partition of ``(n,)`` cluster ids, the same for any
    renaming of its clusters: ids are renumbered by first appearance before hashing."""
    ids = np.asarray(partition).ravel()
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # cluster -> its rank by first appearance
    return hashlib.sha256(order[inverse].astype(np.int64).tobytes()).hexdigest()[:16]


def prepare_start(
    model: ClusteringModel,
    data: ArrayData,
    config: TrainConfig,
    seed: int,
    neighbors: np.ndarray | None = None,
    start: PartitionStart | None = None,
    verbose: int | str = 0,
    backup_dir: str | os.PathLike | None = None,
    fingerprint: str | None = None,
) -> None:
    """What a fresh run does to its network before its own training steps: the siblings' DDC
    pre-training (``config.pretrain_steps``: :func:`pretrain_backbone`), then either the given
    ``start`` — ``start.steps`` mini-batches towards ``start.partition``, seeded by ``seed`` —
    or DDC's k-means start (``config.kmeans_init``: :func:`kmeans_start`); nothing when none is
    set. A run resumed from its backup skips it (the backup holds the prepared network).
    With ``verbose``, the pre-training (a phase of its own, often as long as the run) says so.
    With the run's ``backup_dir``, the pre-training is backed up in a folder of its own inside
    it (``pretrain_seed_<seed>``, removed with the run's backup), so that an interruption during
    it resumes there too."""
    if config.pretrain_steps:
        if verbose:
            print(f"seed {seed}: pre-training its backbone with DDC, {config.pretrain_steps} steps", flush=True)
        pretrain_backbone(model, data, config, seed, neighbors,
                          backup_dir=None if backup_dir is None else pretraining_backup(backup_dir, seed),
                          fingerprint=None if fingerprint is None else pretraining_fingerprint(fingerprint))
    if start is not None:
        distill(model, data, start.partition, steps=start.steps, batch_size=config.batch_size, seed=seed)
        model.fitted_to_partition()
    elif config.kmeans_init:
        kmeans_start(model, data, config, seed)


def pretrain_backbone(
    model: ClusteringModel, data: ArrayData, config: TrainConfig, seed: int, neighbors: np.ndarray | None = None,
    *, backup_dir: str | os.PathLike | None = None, fingerprint: str | None = None,
) -> ClusteringModel:
    """Train DDC for ``config.pretrain_steps`` on ``data`` (same backbone, hidden width,
    batch size, learning rate and seed; with ``config.neighbors``, on the same neighbour
    pairs ``neighbors`` at DDC's default weight), copy its backbone and hidden head into
    ``model`` and return the trained DDC model. ``backup_dir`` and ``fingerprint``: the DDC
    run's backup, as :func:`train_run`'s."""
    ddc_config = dataclasses.replace(
        config, method="ddc", steps=config.pretrain_steps, pretrain_steps=None, epsilon=None,
        proportions="uniform", strategy="none", model_options=None, neighbor_weight=None, balance_weight=None,
    )
    if backup_dir is not None and backup_key(backup_dir) not in (None, fingerprint):
        warnings.warn(f"{backup_dir}: a pre-training backup of other data or settings; pre-training anew",
                      stacklevel=2)
        shutil.rmtree(backup_dir)
    ddc_model, _ = train_run(data, ddc_config, seed, verbose=0, neighbors=neighbors, backup_dir=backup_dir,
                             fingerprint=fingerprint)
    model.backbone.set_weights(ddc_model.backbone.get_weights())
    model.hidden_layer.set_weights(ddc_model.hidden_layer.get_weights())
    return ddc_model


def kmeans_start(model: ClusteringModel, data: ArrayData, config: TrainConfig, seed: int) -> np.ndarray:
    """Fit the fresh ``model`` to a k-means++ partition of ``data`` before DDC trains it.

    One k-means++ initialisation seeded by ``seed`` (Lloyd to convergence, on the flattened
    inputs; different runs start from different partitions), then ``config.kmeans_init``
    mini-batches of cross-entropy towards it (``ddc_tf.experiments.distill.distill``, batch
    size ``config.batch_size``, seeded by ``seed``). DDC's training then starts from a network
    that already separates k-means' clusters and refines them instead of finding a partition
    from random weights (README "Beating k-means").

    Returns:
        The ``(n,)`` k-means cluster ids the network was fitted to.
    """
    partition = baselines.kmeans(data.x, config.n_clusters, n_init=1, seed=seed)  # flattens images itself
    distill(model, data, partition, steps=config.kmeans_init, batch_size=config.batch_size, seed=seed)
    return partition


def evaluation_order(n: int, batch_size: int, seed: int = EVALUATION_SEED) -> np.ndarray:
    """Row indices for scoring a model over a whole data set in mini-batches.

    A seeded random permutation of ``0 … n-1`` — so batches mix the classes even when the
    data is stored sorted by class (a kernel term on one-class batches measures something
    else) — padded with its own first points to a whole number of batches, so every batch
    has ``batch_size`` points (a last batch of a few points gives a meaningless kernel
    term). With ``n ≤ batch_size``: one batch of all points.

    Returns:
        ``(ceil(n / batch_size) · batch_size,)`` int64 indices (``(n,)`` when n ≤ batch_size).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    remainder = n % batch_size
    if n > batch_size and remainder:
        order = np.concatenate([order, order[: batch_size - remainder]])
    return order


def dataset_loss(
    model: ClusteringModel, data: ArrayData, batch_size: int = 100, seed: int = EVALUATION_SEED
) -> dict[str, float]:
    """Unsupervised loss of ``model`` over the whole data set (no labels).

    Batches of ``batch_size`` points taken from ``evaluation_order(data.n, batch_size,
    seed)``: the same random batches for every run of a protocol, independent of the order
    the data is stored in (a class-sorted copy and a shuffled copy score alike). The result
    is the mean over batches of each term; batch norm runs in inference mode.

    Returns:
        ``{"loss", "l1", "l2", "l3"}`` as floats.
    """
    order = evaluation_order(data.n, batch_size, seed)
    dataset = to_dataset(data, batch_size=batch_size, shuffle=False, with_labels=False, order=order)
    result = model.evaluate(dataset, verbose=0, return_dict=True)
    return {name: float(result[name]) for name in ("loss", *losses.TERM_NAMES)}

