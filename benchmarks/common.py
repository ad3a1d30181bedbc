"""Shared helpers of the benchmark scripts: subsetting data, timing training steps, running
``ddc-tf fit`` in a fresh process, writing result files."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Backbone of each data set (the protocol's ``auto`` choice, written out).
BACKBONES = {"digits": "mlp", "20news": "mlp", "fashion_mnist": "conv", "mnist": "conv",
             "circles": "mlp"}


def _rows(data, idx):
    return None if data.row_names is None else tuple(data.row_names[i] for i in idx)


def subsample(data, n: int | None, seed: int = 0):
    """A seeded random subset of ``n`` points of an ``ArrayData`` (all of it if n is None)."""
    if n is None or n >= data.n:
        return data
    idx = np.sort(np.random.default_rng(seed).choice(data.n, size=n, replace=False))
    y = None if data.y is None else data.y[idx]
    return dataclasses.replace(data, x=data.x[idx], y=y, name=f"{data.name}[{n}]", row_names=_rows(data, idx))


def imbalance(data, fractions: list[float], seed: int = 0):
    """Keep a seeded random ``fractions[c]`` of the points of class ``c`` (paper §5: DDC's
    orthogonality term assumes balanced clusters; real topic data is not)."""
    if len(fractions) != data.n_classes:
        raise SystemExit(f"--imbalance needs {data.n_classes} fractions for {data.name}, got {len(fractions)}")
    rng = np.random.default_rng(seed)
    keep = []
    for c, fraction in enumerate(fractions):
        members = np.flatnonzero(data.y == c)
        keep.append(rng.choice(members, size=max(1, round(fraction * members.size)), replace=False))
    idx = np.sort(np.concatenate(keep))
    sizes = np.bincount(data.y[idx]).tolist()
    return (dataclasses.replace(data, x=data.x[idx], y=data.y[idx], name=f"{data.name}-imbalanced",
                                row_names=_rows(data, idx)), sizes)


def finished_run_dirs(folder: str | os.PathLike) -> list[Path]:
    """The run folders ``runs/seed_<s>/`` of a protocol folder whose run finished (its
    ``run.json``, written last, is there), in seed order."""
    from ddc_tf import run_files

    done = Path(folder, run_files.RUNS_DIR).glob(f"seed_*/{run_files.RUN_FILE}")
    return sorted((path.parent for path in done), key=lambda run: int(run.name.removeprefix("seed_")))


def stored_labelings(folder: str | os.PathLike, seeds) -> list[np.ndarray]:
    """The cluster ids of the finished runs ``seeds`` of a protocol folder (``runs/seed_<s>/``)."""
    from ddc_tf import run_files

    return [np.load(run_files.run_dir(folder, s) / run_files.LABELS_FILE, allow_pickle=False) for s in seeds]


def stored_ensemble(folder: str | os.PathLike, first: int, runs: int, n_clusters: int) -> np.ndarray:
    """DDC-ENSEMBLE of the stored runs ``first … first + runs − 1``, as ``run_protocol`` computes
    it for a protocol whose first seed is ``first``."""
    from ddc_tf import selection

    return selection.ensemble(stored_labelings(folder, range(first, first + runs)), n_clusters, seed=first)


#: Neighbours per point of the input graph that ``modularity`` scores partitions on.
GRAPH_NEIGHBORS = 10


def neighbour_graph(data, k: int = GRAPH_NEIGHBORS) -> sp.csr_matrix:
    """The symmetric, unweighted k-nearest-neighbour graph of the inputs: ``(n, n)`` CSR of 0/1."""
    from ddc_tf.data.neighbors import nearest_neighbors

    found = nearest_neighbors(data, k)
    n = found.shape[0]
    directed = sp.csr_matrix((np.ones(found.size), (np.repeat(np.arange(n), k), found.reshape(-1))), shape=(n, n))
    return ((directed + directed.T) > 0).astype(np.float64).tocsr()


def modularity(graph: sp.csr_matrix, clusters: np.ndarray) -> float:
    """Newman's modularity of ``clusters`` on ``graph``: Σ_c (e_c / 2m − (d_c / 2m)²), with e_c
    twice the edges inside cluster c and d_c the sum of its points' degrees."""
    _, codes = np.unique(clusters, return_inverse=True)
    member = sp.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes.reshape(-1))))
    total = graph.sum()
    within = (member.T @ graph @ member).diagonal().sum() / total
    volume = member.T @ np.asarray(graph.sum(axis=1)).ravel() / total
    return float(within - np.sum(volume ** 2))


class StepTimes(keras.callbacks.Callback):
    """Wall-clock intervals between consecutive ``on_train_batch_end`` calls of ``fit`` (the
    steady-state step time). Timing restarts at every epoch: the boundary (end-of-epoch logs,
    callbacks, backups) is not a step. A model that runs several steps per call
    (``steps_per_execution``) ends a batch once per call: each interval is divided by it."""

    def __init__(self) -> None:
        super().__init__()
        self.last: float | None = None
        self.intervals: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.last = None

    def on_train_batch_end(self, batch, logs=None) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append((now - self.last) / self.model.steps_per_execution)
        self.last = now


def fit_arguments(data: Path, out: Path, extra: list[str]) -> list[str]:
    """The arguments of ``ddc-tf fit --data <data> --kmeans --out <out> --quiet [extra]``."""
    return ["fit", "--data", str(data), "--kmeans", "--out", str(out), "--quiet", *extra]


def run_fit(data: Path, out: Path, extra: list[str]) -> tuple[dict, float, list[str]]:
    """``ddc-tf fit --data <data> --kmeans --out <out> --quiet [extra]`` in a fresh process:
    its ``results.json``, the wall seconds and the command."""
    exe = shutil.which("ddc-tf")
    command = ([exe] if exe else [sys.executable, "-m", "ddc_tf"]) + fit_arguments(data, out, extra)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads((out / "results.json").read_text()), seconds, command


def fit_once(data: Path, out: Path, extra: list[str]) -> tuple[dict, dict[str, Any], str]:
    """:func:`run_fit`, once per ``out`` folder: ``(results, {"seconds", "resumed"}, command)``.
    The wall time is kept in ``out/wall_seconds.json``, and a folder that has it is read back
    without running; ``resumed`` says the fit continued an interrupted folder, so its time is
    only the rest's. ``command`` is the fit as a user types it."""
    timing = out / "wall_seconds.json"
    if not timing.exists():
        resumed = out.exists()
        _, seconds, _ = run_fit(data, out, extra)
        timing.write_text(json.dumps({"seconds": seconds, "resumed": resumed}))
    wall = json.loads(timing.read_text())
    command = " ".join(["ddc-tf", *fit_arguments(data, out, extra)])
    return json.loads((out / "results.json").read_text()), {"resumed": False, **wall}, command


def machine() -> dict[str, Any]:
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus machine facts) to ``benchmarks/results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path
