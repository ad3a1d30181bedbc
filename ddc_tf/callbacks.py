"""Training curves (the paper's Fig. 9a): the loss, its three terms and ACC/NMI over time.

:class:`TrainingCurves` is a Keras callback. Every ``every`` training steps (and once before
the first) it evaluates the model on a **fixed subset** of the data — the same points, in
the same batches of ``batch_size``, every time, in inference mode; points drawn in a seeded
random order, so batches mix the classes however the data is stored — and logs

* ``loss``, ``l1``, ``l2``, ``l3``: the mean over those batches of the unsupervised loss
  and its terms (the quantity the protocol selects runs by, restricted to the subset);
* ``acc``, ``nmi``: clustering accuracy and NMI of the subset's cluster ids, when labels
  are given (reporting only: nothing in training or selection reads them);
* ``train_loss``: the running mean of the training loss that ``fit`` shows.

Rows go to a CSV file (one per evaluation, column ``step`` = optimizer iterations) and,
when ``log_dir`` is given, to TensorBoard scalars (``curves/loss``, ``curves/acc``, ...).
:func:`read_curves` reads the CSV back and :func:`ddc_tf.viz.plots.plot_training_curves` draws Fig. 9a (each curve
rescaled to [0, 1], as the paper does).

Example:
    >>> curves = TrainingCurves(data.x, data.y, every=100, csv_path="curves.csv",
    ...                         log_dir="logs/curves")
    >>> model.fit(dataset, steps_per_epoch=500, epochs=4, callbacks=[curves])
"""

from __future__ import annotations

import csv
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ddc_tf import evaluation
from ddc_tf.checks import is_positive_int
from ddc_tf.losses import TERM_NAMES
from ddc_tf.models import ClusteringModel
from ddc_tf.options import DEFAULT_CURVE_SUBSET

__all__ = ["TrainingCurves", "CURVE_COLUMNS", "REQUIRED_CURVE_COLUMNS", "read_curves"]

#: Columns of the CSV file, in order.
CURVE_COLUMNS: tuple[str, ...] = ("step", "loss", *TERM_NAMES, "acc", "nmi", "train_loss")
#: The columns a curves CSV must have (the others may be absent or empty).
REQUIRED_CURVE_COLUMNS: tuple[str, ...] = ("step", "loss", *TERM_NAMES)


class TrainingCurves(keras.callbacks.Callback):
    """Log the DDC loss, its terms and (with labels) ACC/NMI on a fixed subset during ``fit``.

    Args:
        x: inputs ``(n, *input_shape)`` (dense numpy, as the model sees them) or a scipy
            sparse matrix ``(n, d)``.
        y: ``(n,)`` integer labels, or ``None`` (then ACC/NMI are not logged).
        every: evaluate every this many training steps.
        subset: evaluate on this many points, drawn once with ``seed`` (all if ``None`` or
            ≥ n); more than one batch's worth is cut to whole batches of ``batch_size``.
        batch_size: batch size of the evaluation; keep the training batch size so the
            kernel terms are on the same scale as the training loss.
        csv_path: CSV file to write (``None``: no CSV). An existing file is continued:
            rows at or after the step training resumes from are dropped first.
        log_dir: TensorBoard log folder (``None``: no TensorBoard). Needs the
            ``tensorboard`` package; without it a warning is given and only the CSV written.
        seed: seed of the subset draw.

    Attributes:
        rows: the logged rows (dicts keyed by :data:`CURVE_COLUMNS`).
    """

    def __init__(
        self,
        x: Any,
        y: np.ndarray | None = None,
        *,
        every: int = 100,
        subset: int | None = DEFAULT_CURVE_SUBSET,
        batch_size: int = 100,
        csv_path: str | os.PathLike | None = None,
        log_dir: str | os.PathLike | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be ≥ 1 step, got {every}")
        if subset is not None and not is_positive_int(subset):
            raise ValueError(f"subset must be a whole number ≥ 1 of points (None: all of them), got {subset!r}")
        if batch_size < 2:
            raise ValueError(f"batch_size must be ≥ 2 (the kernel needs pairs), got {batch_size}")
        n = x.shape[0]
        if y is not None:
            y = np.asarray(y)
            if y.shape != (n,):
                raise ValueError(f"y has shape {y.shape}, expected ({n},) labels for the {n} inputs")
        # A seeded random order (not sorted: data stored by class would give one-class
        # batches, whose kernel terms measure something else than the training loss).
        idx = np.random.default_rng(seed).permutation(n)
        if subset is not None and subset < n:
            idx = idx[:subset]
        # Whole batches only: the terms are averaged over batches, and a short last batch (of
        # 1-2 points: a meaningless kernel term) would count as much as a whole one.
        if len(idx) > batch_size:
            idx = idx[: len(idx) - len(idx) % batch_size]
        rows = x[idx]
        if hasattr(rows, "toarray"):  # scipy sparse
            rows = rows.toarray()
        self.x = np.asarray(rows, dtype=np.float32)
        self.y = None if y is None else y[idx]
        self.every = int(every)
        self.batch_size = int(batch_size)
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.rows: list[dict[str, float | int | None]] = []
        self._writer = None
        self._evaluate = None
        self._evaluated_model = None
        self._last_step = -1
        self._started = False

    # ----------------------------------------------------------------- evaluation
    def _batch_fn(self):
        model = self.model
        has_terms = isinstance(model, ClusteringModel)

        @tf.function(reduce_retracing=True, autograph=False)  # no tensor-dependent branches
        def evaluate(x):
            terms = model.loss_terms(x, training=False) if has_terms else {}
            return terms, model(x, training=False)

        return evaluate

    def evaluate(self) -> dict[str, float | None]:
        """Loss, terms and (with labels) ACC/NMI of the current model on the subset.

        Every ``ClusteringModel`` (DDC, OTClustering, DCAN) logs its ``total`` and its
        ``l1``–``l3`` (see the model's ``TERM_DESCRIPTIONS``); any other Keras model logs
        ACC/NMI only.
        """
        if self._evaluate is None or self._evaluated_model is not self.model:  # the callback may be reused
            self._evaluate, self._evaluated_model = self._batch_fn(), self.model
        sums: dict[str, list[float]] = {key: [] for key in ("loss", *TERM_NAMES)}
        clusters = []
        for start in range(0, len(self.x), self.batch_size):
            terms, probabilities = self._evaluate(tf.constant(self.x[start : start + self.batch_size]))
            if "total" in terms:
                sums["loss"].append(float(terms["total"]))
            for name in TERM_NAMES:
                if name in terms:
                    sums[name].append(float(terms[name]))
            clusters.append(np.asarray(probabilities).argmax(axis=1))
        row: dict[str, float | None] = {k: float(np.mean(v)) if v else None for k, v in sums.items()}
        metrics = evaluation.cluster_metrics(self.y, np.concatenate(clusters).astype(np.int64))
        row.update(acc=metrics["acc"], nmi=metrics["nmi"])
        return row

    # ----------------------------------------------------------------- logging
    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def _log(self, train_loss: float | None) -> None:
        step = self._step()
        if step == self._last_step:
            return
        self._last_step = step
        row = {"step": step, **self.evaluate(), "train_loss": train_loss}
        self.rows.append(row)
        if self.csv_path is not None:
            with self.csv_path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=CURVE_COLUMNS).writerow(
                    {k: "" if row[k] is None else row[k] for k in CURVE_COLUMNS}
                )
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for key in CURVE_COLUMNS[1:]:
                    if row[key] is not None:
                        tf.summary.scalar(f"curves/{key}", row[key])
            self._writer.flush()

    def _prepare_csv(self, step: int) -> None:
        """Start a new CSV, or keep the rows of an earlier, interrupted fit before ``step``."""
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as handle:
                kept = [r for r in csv.DictReader(handle) if r.get("step") and int(r["step"]) < step]
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CURVE_COLUMNS)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in CURVE_COLUMNS} for r in kept)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = False
        if self._evaluated_model is not self.model:  # another model's steps are not this one's
            self._last_step = -1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # Set up at the first epoch, not at train begin: by then BackupAndRestore (if any)
        # has restored the optimizer, so the step count says where training resumes.
        if getattr(self, "_started", False):
            return
        self._started = True
        step = self._step()
        if self.csv_path is not None:
            self._prepare_csv(step)
        if self.log_dir is not None:
            if importlib.util.find_spec("tensorboard") is None:
                # tf.summary.scalar needs the tensorboard package (TF 2.21 does not pull it).
                warnings.warn(
                    "TrainingCurves: the tensorboard package is not installed; writing the CSV "
                    "only (pip install tensorboard)", stacklevel=2,
                )
                self.log_dir = None
            else:
                self._writer = tf.summary.create_file_writer(str(self.log_dir))
        self._log(None)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._step() % self.every == 0:
            self._log(float(logs["loss"]) if logs and "loss" in logs else None)

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self._started:  # no epoch ran (a run resumed after its last one): set up first
            self.on_epoch_begin(0)
        self._log(float(logs["loss"]) if logs and "loss" in logs else None)  # the final state
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_curves(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a curves CSV into ``{column: float array}`` (missing values are NaN).

    Raises:
        ValueError: the file is not UTF-8 text, or lacks the ``step``, ``loss``, ``l1``, ``l2``,
            ``l3`` columns (it is not a ``--log-curves`` file).
    """
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: not a training-curves CSV (not text: {err})") from None
    missing = [c for c in REQUIRED_CURVE_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{path}: not a training-curves CSV (as --log-curves writes): no {', '.join(missing)} "
                         f"column{'s' if len(missing) > 1 else ''}; its columns are {columns}")
    return {
        column: np.array([float(r[column]) if r.get(column) not in (None, "") else np.nan for r in rows])
        for column in CURVE_COLUMNS
    }
