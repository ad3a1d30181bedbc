"""A scikit-learn clustering estimator around DDC (and its sibling losses).

This is the **Deep Divergence-based Clustering** of Kampffmeyer et al. (*Neural Networks*
2019) — not the unrelated "DDC" of ClustPy (Ren et al., Deep Density-based Image Clustering, Knowledge-Based Systems 2020).

    >>> from ddc_tf.sklearn import DDCClustering
    >>> est = DDCClustering(n_clusters=10, random_state=0)   # ddc-tf fit's protocol: 10 runs
    >>> labels = est.fit_predict(X)          # X: (n, d) array or scipy sparse matrix
    >>> est.labels_, est.predict(X_new), est.predict_proba(X_new), est.transform(X_new)

It follows scikit-learn's clustering conventions (``ClusterMixin``): ``fit(X)`` learns
``labels_`` (the cluster of every training point), ``predict`` assigns new points,
``fit_predict`` does both, ``transform`` gives the hidden representation the kernel is
computed on, ``predict_proba`` the soft assignments. It trains ``runs`` networks (10, as
``ddc-tf fit``) and keeps the one the label-free ``selector`` picks, distilled on the runs'
consensus (the package's protocol, see :func:`ddc_tf.run_protocol`); ``runs=1`` trains one
network, in about a tenth of the time and with worse clusters (README, "scikit-learn users").
Rows can be images: give ``image_shape=(h, w, c)`` and ``backbone="auto"`` picks the paper's CNN
for images of at least 16×16.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Sequence

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ddc_tf import selection
from ddc_tf.checks import is_positive_int, is_whole_number, non_negative_int, positive_int, random_seed
from ddc_tf.data import ArrayData
from ddc_tf.data.arrays import canonical_csr, check_float32_range
from ddc_tf.experiments.grouped import RUNTIME_STARTED, pools_side_by_side_pay, size_pools_side_by_side
from ddc_tf.experiments.presets import FIT_DEFAULTS
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig, dataset_loss, infer, resolve_backbone, train_run
from ddc_tf.models import METHODS
from ddc_tf.options import (DEFAULT_DISTILL_STEPS, MIN_VOTE_RUNS, default_neighbors, default_pretrain_steps,
                            default_refine_runs, default_runs_at_once)

__all__ = ["DDCClustering", "THREAD_POOLS"]

#: ``DDCClustering(thread_pools=)``'s values: leave TensorFlow's pools, or size them for runs trained together.
THREAD_POOLS = ("tensorflow", "runs")


class DDCClustering(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Deep Divergence-based Clustering as a scikit-learn estimator.

    Args:
        n_clusters: number of clusters k (≥ 2; 8 by default, as scikit-learn's ``KMeans``). ``X`` is
            used as given: scale it as you would for k-means (``ddc-tf fit`` divides uint8 pixels by
            255 and leaves floats alone; every 20news result in the README trained on TF-IDF rows
            L2-normalised, as ``TfidfVectorizer`` gives them).
        method: ``"ddc"`` (default), ``"ot"`` or ``"dcan"`` (the sibling losses).
        backbone: ``"auto"`` (CNN for ``image_shape`` ≥ 16×16, else MLP), ``"conv"``, ``"mlp"``.
        image_shape: ``(h, w, c)`` (or ``(h, w)`` for one channel) when each row of ``X`` is a
            flattened image.
        steps: training mini-batches per run.
        batch_size: points per mini-batch (the kernel's size); at most ``n``, at least
            ``n_clusters`` (the loss is formed on one batch).
        runs: independent networks trained; the ``selector`` picks one without labels. The
            default is ``ddc-tf fit``'s (``FIT_DEFAULTS["runs"]``, 10): on digits it clusters
            at ACC 0.90 where one run (``runs=1``, the default before) averages 0.75, below
            k-means++ (0.79; ``benchmarks/sklearn_default_runs.py``).
        runs_at_once: with ``runs > 1``, train this many runs together in one program
            (``run_protocol(runs_at_once=)``, ``ddc_tf.experiments.grouped``; README "Speed" →
            "Runs trained together"): each run is what it would be alone up to the order of
            float operations, and a group is deterministic for a given value; 1 trains them one
            by one (what the estimator did before it had this parameter); ``None`` (default): as
            ``ddc-tf fit`` (``ddc_tf.options.default_runs_at_once``: 4, at most ``runs``). The MLP's groups
            gain most when TensorFlow runs one op per thread: ``thread_pools="runs"``.
        selector: one of ``ddc_tf.selection.SELECTORS`` (default ``DEFAULT_SELECTOR``):
            ``"loss"``, ``"l1"``, ``"consensus"`` or ``"ensemble"``.
        distill_steps: with ``runs ≥ 3``, the chosen network is then fine-tuned this many
            mini-batches on the consensus clustering of all runs (DDC-DISTILLED, as
            ``ddc-tf fit`` does by default; ``ddc_tf.experiments.distill``); 0 keeps the chosen
            run as trained.
        neighbors: pair each point with one of its this many nearest neighbours in the input
            space and add a neighbour term to the loss (README: "Beating k-means", item 8;
            "Sibling losses"); 0: the method's own loss; ``None`` (default): as ``ddc-tf fit``
            (``ddc_tf.options.default_neighbors``: 5 for DDC, 10 for OT and DCAN with the MLP, at
            most n − 1). With ``method="ot"`` or ``"dcan"`` the backbone starts from a DDC run,
            as in ``ddc-tf fit``.
        balance_weight: DDC with neighbours only: weight of the balance term beside the
            neighbour term (``TrainConfig.balance_weight``; README: "Beating k-means", item 12 —
            it keeps the runs from emptying clusters and helps when the clusters are of similar
            size, costs when they are not); ``None`` (default): ``DDC.DEFAULT_BALANCE_WEIGHT``
            (0, off), as in the CLI.
        kmeans_init: DDC only: fit each run's fresh network this many mini-batches to a
            k-means++ partition before DDC trains it (``TrainConfig.kmeans_init``; README:
            "Beating k-means", item 9 — it helps on digits and 20news, and keeps DDC in
            k-means' convex clusters where the data's are not); 0 (default): random start.
        refine_runs: with ``runs ≥ 3``, this many more runs start from the consensus
            clustering of the ``runs`` (DDC-ENSEMBLE) and are ranked with them
            (``run_protocol(refine_runs=)``; README: "Beating k-means", item 10); ``None``
            (default): as ``ddc-tf fit`` (``ddc_tf.options.default_refine_runs``: 3 for DDC).
        pretrain_steps: ``method="ot"`` or ``"dcan"`` only: DDC steps that pre-train the
            backbone first (``TrainConfig.pretrain_steps``); ``None`` (default): as ``ddc-tf fit``
            (``ddc_tf.options.default_pretrain_steps``); 0: from scratch.
        learning_rate: Adam's rate; ``None``: 1e-3.
        rel_sigma, sigma_mode: the DDC kernel bandwidth (``ddc_tf.losses.bandwidth_sq``).
        proportions: the clusters' expected shares of the points: ``"uniform"`` (default) or k
            positive numbers (normalised). DDC: its size-aware ``l2``, for clusters of unequal
            size (README "Beating k-means", item 5); OT: the transport's column marginal
            (``None``: free); DCAN: the prior's mixture weights.
        random_state: seed of the first run (run r uses ``random_state + r``); ``None``: 0; a
            ``numpy.random.RandomState`` or ``Generator``: a seed drawn from it.
        verbose: Keras ``fit`` verbosity.
        thread_pools: ``"tensorflow"`` (default): TensorFlow's CPU thread pools as they are (its
            own sizing, or yours). ``"runs"``: sized as ``ddc-tf fit`` sizes them when MLP runs
            train together — one thread per op, as many ops at once as there are cores
            (``ddc_tf.experiments.grouped.ops_side_by_side``, which has the measurements) —
            a default fit on 2 cores took 209 ± 18 s against 259 ± 11 s on digits (3 seeds) and 404
            against 471 s on 20news (1 seed); clusters alike on digits, other runs by rounding
            (``benchmarks/sklearn_thread_pools.py``).
            The pools belong to the process and are fixed once
            TensorFlow's runtime starts: they are sized only if this fit is the first thing in
            the process to run TensorFlow (a warning says why when they are not), and later
            TensorFlow work in the process keeps them (a large single network may run slower
            on one thread per op).
        out_dir: a folder for the fit's runs, backups and results, as ``ddc-tf fit --out``'s
            (``run_protocol(out_dir=)``); ``None`` (default): all in memory. With it a fit that
            was interrupted (Ctrl-C, a lost session) continues where its runs' last chunks
            ended when ``fit`` is called again on the same ``X`` with the same parameters, and
            runs that finished are reused — also by a fit that asks for more ``runs``. The
            folder then holds ``model.keras`` and ``results.json``, which ``ddc-tf predict``,
            ``ddc-tf export`` and ``ddc_tf.run_files.load_model`` read. Runs are found by their
            seeds: a run of the same seed on another ``X`` or with other settings is refused (the
            message's ``--out`` is this folder), not written over, but a fit whose seeds are all
            new (another ``random_state``) replaces the folder's model and results. One folder per
            fit: the folds of a cross-validation are other ``X``. Needs an integer
            ``random_state``. A folder another fit is writing is refused.

    Attributes (after ``fit``):
        labels_: ``(n,)`` int64 cluster of each training point.
        model_: the trained Keras model (``ddc_tf.DDC`` / ``OTClustering`` / ``DCAN``).
        loss_: its unsupervised loss on the training data (of the chosen run, before any
            distillation).
        results_: the protocol's results dict when ``runs > 1`` or ``out_dir`` is given, else None.
        n_features_in_: number of columns of ``X``.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        method: str = "ddc",
        backbone: str = "auto",
        image_shape: Sequence[int] | None = None,
        steps: int = FIT_DEFAULTS["steps"],
        batch_size: int = FIT_DEFAULTS["batch_size"],
        runs: int = FIT_DEFAULTS["runs"],
        runs_at_once: int | None = None,
        selector: str = selection.DEFAULT_SELECTOR,
        distill_steps: int = DEFAULT_DISTILL_STEPS,
        neighbors: int | None = None,
        balance_weight: float | None = None,
        kmeans_init: int = 0,
        refine_runs: int | None = None,
        pretrain_steps: int | None = None,
        learning_rate: float | None = None,
        rel_sigma: float = 0.15,
        sigma_mode: str = "reference",
        proportions: str | Sequence[float] | None = "uniform",
        random_state: int | None = None,
        verbose: int = 0,
        thread_pools: str = "tensorflow",
        out_dir: str | os.PathLike | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.method = method
        self.backbone = backbone
        self.image_shape = image_shape
        self.steps = steps
        self.batch_size = batch_size
        self.runs = runs
        self.runs_at_once = runs_at_once
        self.selector = selector
        self.distill_steps = distill_steps
        self.neighbors = neighbors
        self.balance_weight = balance_weight
        self.kmeans_init = kmeans_init
        self.refine_runs = refine_runs
        self.pretrain_steps = pretrain_steps
        self.learning_rate = learning_rate
        self.rel_sigma = rel_sigma
        self.sigma_mode = sigma_mode
        self.proportions = proportions
        self.random_state = random_state
        self.verbose = verbose
        self.thread_pools = thread_pools
        self.out_dir = out_dir

    # ----------------------------------------------------------------- helpers
    def _arrays(self, X: Any, *, reset: bool) -> ArrayData:
        X = validate_data(
            self, X, reset=reset, accept_sparse="csr", dtype=[np.float32, np.float64],
            ensure_min_samples=1 if not reset else 2,
        )
        if scipy.sparse.issparse(X):
            if self.image_shape is not None:
                raise ValueError("image_shape needs dense rows; give X as a dense array")
            check_float32_range(X.data, X.data.astype(np.float32), "X")
            x = canonical_csr(X)
            kind = "vector"
        else:
            x = np.asarray(X, dtype=np.float32)
            check_float32_range(X, x, "X")
            kind = "vector"
            if self.image_shape is not None:
                shape = self._image_shape()
                if math.prod(shape) != x.shape[1]:
                    raise ValueError(
                        f"image_shape={self.image_shape!r} holds {math.prod(shape)} values per image; "
                        f"the rows of X hold {x.shape[1]}"
                    )
                x = x.reshape((x.shape[0], *shape))
                kind = "image"
        return ArrayData(x=x, y=None, name="X", kind=kind, raw_dtype="float32", scale=1.0)

    def _image_shape(self) -> tuple[int, int, int]:
        """``image_shape`` as ``(h, w, c)``; ``(h, w)`` is one channel."""
        shape = tuple(self.image_shape) if isinstance(self.image_shape, (list, tuple, np.ndarray)) else ()
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or not all(is_positive_int(d) for d in shape):
            raise ValueError(f"image_shape={self.image_shape!r}: expected (h, w) or (h, w, channels) of positive integers")
        return tuple(int(d) for d in shape)

    def _first_seed(self, runs: int) -> int:
        """``random_state`` as the first of ``runs`` consecutive seeds: an integer ≥ 0 as given
        (refused when the last seed would pass 2**32 − 1), ``None`` → 0, a
        ``numpy.random.RandomState`` or ``Generator`` → a seed drawn from it."""
        if self.random_state is None:
            return 0
        if isinstance(self.random_state, (np.random.RandomState, np.random.Generator)):
            draw = self.random_state.randint if isinstance(self.random_state, np.random.RandomState) \
                else self.random_state.integers
            return int(draw(2**31 - 1))
        return random_seed(self.random_state, "random_state", runs, " (or None, or a numpy RandomState)")

    def _runs_at_once(self) -> int:
        """``runs_at_once``, else ``default_runs_at_once(runs)``; refused above ``runs``."""
        if self.runs_at_once is None:
            return default_runs_at_once(int(self.runs))
        at_once = positive_int(self.runs_at_once, "runs_at_once", " (or None: as ddc-tf fit)")
        if at_once > self.runs:
            raise ValueError(f"runs_at_once={self.runs_at_once!r} trains more runs together than there are "
                             f"(runs={self.runs!r}); give at most runs, or None")
        return at_once

    def _size_thread_pools(self, runs_at_once: int, backbone: str) -> None:
        """With ``thread_pools="runs"``, one thread per op for MLP runs trained together (as
        ``ddc-tf fit``); a warning when the fit came after TensorFlow's runtime started. Pools
        the user chose (``TF_NUM_*`` variables, ``tf.config.threading``, an earlier fit) stay, silently."""
        if self.thread_pools not in THREAD_POOLS:
            raise ValueError(f"thread_pools={self.thread_pools!r}; expected one of {THREAD_POOLS}")
        if self.thread_pools == "tensorflow" or not pools_side_by_side_pay(runs_at_once, backbone):
            return
        if size_pools_side_by_side() == RUNTIME_STARTED:  # not sized, and not by anyone's choice
            warnings.warn(f"thread_pools='runs': TensorFlow's thread pools stay as they are: {RUNTIME_STARTED}",
                          stacklevel=3)

    def _config(self, data: ArrayData) -> TrainConfig:
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; expected one of {tuple(METHODS)}")
        if not (is_whole_number(self.steps) and self.steps >= 1):
            raise ValueError(f"steps={self.steps!r}: need a whole number ≥ 1 (training steps per run)")
        n, backbone = data.n, resolve_backbone(self.backbone, data)
        return TrainConfig(
            n_clusters=self.n_clusters,
            backbone=self.backbone,
            steps=self.steps,
            batch_size=min(positive_int(self.batch_size, "batch_size"), n),
            learning_rate=self.learning_rate,
            rel_sigma=self.rel_sigma,
            sigma_mode=self.sigma_mode,
            proportions=self.proportions,
            method=self.method,
            neighbors=(self.neighbors if self.neighbors is not None
                       else default_neighbors(self.method, backbone, n)),
            pretrain_steps=(default_pretrain_steps(self.method, int(self.steps)) if self.pretrain_steps is None
                            else self.pretrain_steps),
            balance_weight=self.balance_weight,
            kmeans_init=self.kmeans_init,
        )

    # ----------------------------------------------------------------- the API
    def fit(self, X: Any, y: Any = None) -> "DDCClustering":
        """Train on ``X`` ``(n, d)`` (dense or sparse; ``y`` is ignored) and set ``labels_``."""
        for name in ("model_", "labels_", "results_", "loss_"):  # a refit that fails leaves no earlier fit
            self.__dict__.pop(name, None)
        data = self._arrays(X, reset=True)
        if not (isinstance(self.n_clusters, (int, np.integer)) and 2 <= self.n_clusters <= data.n):
            raise ValueError(f"n_clusters={self.n_clusters!r}: need an integer in [2, n_samples={data.n}]")
        if not (is_whole_number(self.runs) and self.runs >= 1):  # 2.0 as 2, as TrainConfig takes steps=10.0
            raise ValueError(f"runs={self.runs!r}: need a whole number ≥ 1 (independent networks to train)")
        at_once = self._runs_at_once()
        selection.check_selector(self.selector)  # also with runs=1, where it picks nothing
        if self.runs < MIN_VOTE_RUNS:  # what needs the runs' consensus is refused, not dropped without a word
            for name, value, default in (("refine_runs", self.refine_runs, None),
                                         ("distill_steps", self.distill_steps, DEFAULT_DISTILL_STEPS)):
                if value not in (default, 0):
                    raise ValueError(f"{name}={value!r} works on the consensus of the runs (DDC-ENSEMBLE), which "
                                     f"needs runs ≥ {MIN_VOTE_RUNS} (runs={self.runs!r}); give more runs or drop it")
            if self.selector == "ensemble":
                raise ValueError(f"selector='ensemble' ranks runs by their agreement with DDC-ENSEMBLE, which needs "
                                 f"runs ≥ {MIN_VOTE_RUNS} (runs={self.runs!r}); give more runs or another selector")
        for name in ("refine_runs", "distill_steps"):  # run_protocol checks them too, after the pools are sized
            if getattr(self, name) is not None:
                non_negative_int(getattr(self, name), name)
        if self.out_dir is not None and isinstance(self.random_state, (np.random.RandomState, np.random.Generator)):
            raise ValueError("out_dir resumes and reuses runs by their seeds, and a random_state generator draws other "
                             "seeds at every fit; give random_state an integer")
        config = self._config(data)
        refine_runs = self.refine_runs if self.refine_runs is not None else default_refine_runs(self.method, int(self.runs))
        seed = self._first_seed(int(self.runs) + refine_runs)
        self._size_thread_pools(at_once, resolve_backbone(self.backbone, data))  # checked; before TensorFlow runs
        if self.runs > 1 or self.out_dir is not None:  # the protocol keeps the folder (one run as well)
            self.results_, self.model_ = run_protocol(
                data, config, runs=int(self.runs), seed=seed, verbose=self.verbose, out_dir=self.out_dir,
                selector=self.selector, progress=False, distill_steps=self.distill_steps, runs_at_once=at_once,
                refine_runs=refine_runs,
            )
            self.loss_ = float(self.results_["best"]["loss"])
        else:
            self.model_, _ = train_run(data, config, seed, verbose=self.verbose)
            self.results_ = None
            self.loss_ = dataset_loss(self.model_, data, batch_size=config.batch_size)["loss"]
        self.labels_ = infer(self.model_, data).argmax(axis=1).astype(np.int64)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Soft cluster assignments ``(n, n_clusters)`` float32 (rows sum to 1)."""
        check_is_fitted(self, "model_")
        return infer(self.model_, self._arrays(X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """The cluster ``(n,)`` int64 of each row of ``X``."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)

    def transform(self, X: Any) -> np.ndarray:
        """The hidden representation ``(n, hidden_units)`` float32 (what the kernel sees)."""
        check_is_fitted(self, "model_")
        return infer(self.model_, self._arrays(X, reset=False), hidden=True)

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output (for ``get_feature_names_out`` and ``set_output``)."""
        return int(self.model_.hidden_units)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        return tags
