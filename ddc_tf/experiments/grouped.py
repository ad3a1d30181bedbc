"""``train_runs``: several runs of one configuration trained together, each what it would be alone.

``train_run`` trains one seed; ``train_runs`` trains the seeds ``seeds`` at once in a
:class:`ddc_tf.models.group.RunGroup` — one traced training step for all of them — and
returns, per seed, the same model and history ``train_run`` would (up to the order of
floating-point operations). Every member is built exactly as its single run is (weights
drawn after ``keras.utils.set_random_seed(seed)``, DCAN/OT random generators seeded the
same way, its own DDC pre-training), and reads its own batch stream
(``training_stream(data, config, seed)``). The group backs itself up after every chunk
and resumes exactly, like a single run.

Why: the runs of a protocol are independent, and a batch-100 step of the paper's small
networks leaves much of a CPU (and most of a GPU) idle between kernels; one program for R
runs pays the loop's fixed cost once per step (``benchmarks/protocol_throughput.py``).
"""

from __future__ import annotations

import os
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from ddc_tf.checks import random_seed
from ddc_tf.data import ArrayData
from ddc_tf.experiments.resume import ChunkCheckpoint, resumed_message
from ddc_tf.experiments.training import (
    StopAfterSteps,
    PartitionStart,
    TrainConfig,
    build_model,
    calls_of,
    check_trainable,
    chunking,
    neighbors_for,
    prepare_start,
    steps_per_call,
    training_stream,
)
from ddc_tf.models import ClusteringModel
from ddc_tf.models.group import RunGroup, member_histories, member_key

__all__ = ["RUNTIME_STARTED", "ops_side_by_side", "pools_side_by_side_pay", "size_pools_side_by_side", "train_runs"]

#: The environment variables TensorFlow sizes its CPU thread pools from; when either is set the
#: user has chosen, and :func:`ops_side_by_side` leaves the pools alone.
THREAD_POOL_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


#: What :func:`size_pools_side_by_side` says when it came too late: the one reason that is not a
#: choice (the user's variables or ``tf.config.threading``, or a GPU that runs the kernels).
RUNTIME_STARTED = ("TensorFlow's runtime had started before, and its pools are fixed from then on (size them before "
                   "any TensorFlow work in the process, or start Python with TF_NUM_INTRAOP_THREADS=1 and "
                   "TF_NUM_INTEROP_THREADS=<cores>)")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ops_side_by_side() -> bool:
    """Size TensorFlow's CPU thread pools for a group of runs: each op on one thread
    (intra-op 1), as many independent ops at once as there are cores (inter-op).

    The R runs of a group are independent sub-graphs of one step, so the executor can run
    one run's layer beside another's instead of splitting every small kernel over all cores.
    Measured on 2 cores, 4 runs at a time (``benchmarks/protocol_throughput.py``, two
    interleaved rounds): the MLP group step 19.4–19.9 ms against 24.9–31.4 ms, and
    ``ddc-tf fit --data digits`` 113 s against 149 s with the same runs bit for bit; the CNN
    group step 55.1–57.0 ms against 60.6–74.9 ms, but a whole CNN protocol took 196 s either
    way (a single model — distillation, scoring — runs slower on one thread per op: CNN step
    20 ms against 17 ms) and rounds differently. So ``ddc-tf fit`` and ``ddc-tf demo`` call
    it for MLP groups (:func:`pools_side_by_side_pay`). Call it before TensorFlow's
    runtime starts: the pools are fixed then.

    Returns:
        Whether the pools were set: not with a visible GPU (the runs' kernels run there),
        when ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` or
        ``tf.config.threading`` already chose, or when the runtime has started
        (:func:`size_pools_side_by_side` says which).
    """
    return size_pools_side_by_side() is None


def size_pools_side_by_side() -> str | None:
    """:func:`ops_side_by_side`, returning ``None`` when it sized the pools and otherwise why it
    left them as they are (a sentence)."""
    threading = tf.config.threading
    chosen = [name for name in THREAD_POOL_ENV if os.environ.get(name)]
    if chosen:
        return f"{' and '.join(chosen)} {'is' if len(chosen) == 1 else 'are'} set, and chose them"
    intra, inter = threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()
    if intra or inter:
        return f"tf.config.threading already sized them (intra-op {intra}, inter-op {inter})"
    if tf.config.list_physical_devices("GPU"):
        return "a GPU is visible, and the runs' kernels run there"
    try:
        threading.set_intra_op_parallelism_threads(1)
        threading.set_inter_op_parallelism_threads(available_cores())
    except RuntimeError:  # the runtime has started: its pools stay as they are
        return RUNTIME_STARTED
    return None


def pools_side_by_side_pay(runs_at_once: int, backbone: str) -> bool:
    """Whether runs trained ``runs_at_once`` at a time on ``backbone`` (``"mlp"``, ``"conv"``) gain
    from :func:`ops_side_by_side`, as measured there: MLP groups do; the CNN protocol was no
    faster that way (and rounds differently), and single runs keep TensorFlow's pools."""
    return runs_at_once > 1 and backbone == "mlp"


class GroupProgress(keras.callbacks.Callback):
    """A line per logging chunk of a group of runs trained together: the step reached, the
    time per step of the group and each run's loss (the chunk's mean), in the order of
    ``seeds``. Keras' own line lists every metric of every run (24 at 4 runs of DDC with
    neighbour pairs)."""

    def __init__(self, seeds: Sequence[int], steps: int, chunk: int) -> None:
        super().__init__()
        self.seeds, self.steps, self.chunk = [int(s) for s in seeds], int(steps), int(chunk)
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        done = min((epoch + 1) * self.chunk, self.steps)
        ms = (time.perf_counter() - self.started) * 1000 / max(1, done - epoch * self.chunk)
        losses = " ".join(f"{float(logs[key]):.4f}" for key in (f"loss_{r}" for r in range(len(self.seeds)))
                          if key in logs)
        print(f"seeds {', '.join(map(str, self.seeds))}: step {done}/{self.steps}, {ms:.1f} ms/step; "
              f"loss {losses}", flush=True)


def train_runs(
    data: ArrayData,
    config: TrainConfig,
    seeds: Sequence[int],
    *,
    verbose: int | str = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backup_dir: str | os.PathLike | None = None,
    fingerprint: str | None = None,
    neighbors: np.ndarray | None = None,
    start: PartitionStart | None = None,
) -> list[tuple[ClusteringModel, dict[str, list[float]]]]:
    """Train one fresh model per seed, all in one program, for ``config.steps`` batches each.

    Args:
        data: the training data (labels, if any, are not used).
        config: hyper-parameters shared by the runs (one device: no ``strategy``).
        seeds: the runs' seeds (distinct); run ``seeds[r]`` equals ``train_run(data, config, seeds[r])``.
        verbose: non-zero prints a line per logging chunk (:class:`GroupProgress`).
        callbacks: extra Keras callbacks of the group's ``fit`` (its logs are ``<metric>_<r>``).
        backup_dir: if given, the group's training state is backed up there after every
            chunk and an interrupted group resumes from it exactly.
        fingerprint: identifies the data, configuration and seeds of the backup.
        neighbors: the ``(n, k)`` neighbour graph when ``config.neighbors`` > 0 (searched
            here when ``None``).
        start: the partition every member is fitted to first, as in ``train_run``.

    Returns:
        ``[(model, history), …]`` in the order of ``seeds``; each history as ``train_run``'s.
    """
    seeds = [random_seed(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    if config.strategy != "none":
        raise ValueError("runs are trained together on one device: use strategy='none'")
    check_trainable(data, config)
    members = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)  # the member's weights and generators: its single run's
        members.append(build_model(config, data))
    group = RunGroup(members)
    group.compile(jit_compile=config.jit_compile)
    chunk, epochs = chunking(config.steps)
    checkpoint = ChunkCheckpoint(backup_dir, fingerprint) if backup_dir is not None else None
    done = checkpoint.restore(group) if checkpoint is not None else 0
    if done and verbose:
        print(resumed_message(list(seeds), done * chunk, config.steps), flush=True)
    neighbors = neighbors_for(data, config, neighbors)
    if not done:
        for member, seed in zip(members, seeds):
            prepare_start(member, data, config, seed, neighbors, start, verbose=verbose,
                          backup_dir=backup_dir, fingerprint=fingerprint)
    streams = {}
    for r, seed in enumerate(seeds):
        # tf.data's shuffle seed is combined with the global seed when the stream is made:
        # each stream is made under its run's global seed, as train_run makes its own.
        keras.utils.set_random_seed(seed)
        streams[member_key(r)] = training_stream(data, config, seed, start_batch=done * chunk, neighbors=neighbors)
    all_callbacks = [StopAfterSteps(config.steps, chunk), *callbacks]
    if verbose:
        all_callbacks.append(GroupProgress(seeds, config.steps, chunk))
    if checkpoint is not None:
        all_callbacks.append(checkpoint)  # last: it records the chunk's logs, then saves
    with calls_of(group, steps_per_call(config.steps, chunk, per_step_callbacks=bool(callbacks))):
        history = group.fit(
            tf.data.Dataset.zip(streams).prefetch(tf.data.AUTOTUNE),
            initial_epoch=done,
            epochs=epochs,
            steps_per_epoch=chunk,
            callbacks=all_callbacks,
            verbose=0,  # GroupProgress prints a line per chunk instead of Keras' every metric of every run
            shuffle=False,
        )
    logged = checkpoint.history if checkpoint is not None else history.history
    return list(zip(members, member_histories(logged, len(members))))
