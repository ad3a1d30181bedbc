"""The paper's protocol (§4.6): R runs, a run picked without labels, DDC-VOTE over the best.

Every run trains a fresh model with its own seed and is scored by its **unsupervised**
loss over the whole data set (batches of a fixed random permutation of the points);
labels are used only to report ACC/NMI, never to choose. A selector
(:mod:`ddc_tf.selection`: the lowest loss as in the paper, ``l1``, the consensus
between runs, or the agreement with DDC-ENSEMBLE) ranks the runs; DDC-VOTE aligns the
next best runs to the first (Hungarian on their contingency tables) and takes a per-point
majority vote, ties to the best run;
DDC-ENSEMBLE clusters the points by how often all runs put them together (a consensus
clustering, ``selection.ensemble``). With ``refine_runs`` = M, M more runs then start from
DDC-ENSEMBLE (their fresh networks fitted to its cluster ids, then trained like every run) and
are ranked with the others: the refined runs (README "Beating k-means", item 10).

Baselines run in the same harness (``baselines=``): ``"kmeans"`` is k-means++ (best of 20
restarts, as the paper) on the raw inputs, and ``"kmeans_hidden"`` the same k-means on the
hidden representation (``model.embed``) of the chosen run — how much of DDC's result
the learned representation alone carries.

The output folder holds ``results.json``, the best model ``model.keras`` and ``data.json``
(how the inputs were scaled: what an exported, served model needs). Every finished run is kept on disk (``runs/seed_<s>/``: its
``run.json``, cluster ids and model), so repeating the same command does not train a
finished run again, and an interrupted run resumes from its last backup. Baseline results
are cached in ``baselines.json`` the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
from scipy.stats import spearmanr

from ddc_tf import baselines as baseline_methods
from ddc_tf import evaluation, run_files, selection
from ddc_tf.checks import counted, non_negative_int, positive_int, random_seed
from ddc_tf.data import ArrayData
from ddc_tf.data.neighbors import nearest_neighbors
from ddc_tf.models import ClusteringModel, networks
from ddc_tf.models.base import parse_proportions
from ddc_tf.options import REFINE_START_STEPS, REFINED_RUN_STEPS
from ddc_tf.experiments.distill import distill
from ddc_tf.experiments.grouped import train_runs
from ddc_tf.experiments.resume import backup_key, backup_seconds, rekey_backup
from ddc_tf.experiments.training import (
    PartitionStart,
    TrainConfig,
    check_trainable,
    dataset_loss,
    infer,
    predict_assignments,
    resolve_backbone,
    resolve_learning_rate,
    train_run,
)
from ddc_tf.run_files import (
    BASELINES_FILE,
    DATA_FILE,
    DISTILLED_FILE,
    ENSEMBLE_FILE,
    LABELS_FILE,
    MODEL_FILE,
    RESULTS_FILE,
    RUN_FILE,
    VOTE_FILE,
    describe_data,
)

__all__ = [
    "run_protocol",
    "describe_data",
    "embed_data",
    "kmeans_on_hidden",
    "BASELINES",
    "RESULTS_FILE",
    "MODEL_FILE",
    "DATA_FILE",
]

#: Baselines ``run_protocol`` can add: k-means++ on the raw inputs, and on the hidden
#: representation of the chosen run.
BASELINES: tuple[str, ...] = ("kmeans", "kmeans_hidden")


def _metrics(y: np.ndarray | None, clusters: np.ndarray) -> dict[str, float | None]:
    return evaluation.cluster_metrics(y, clusters)


def embed_data(model: ClusteringModel, data: ArrayData, batch_size: int = 256) -> np.ndarray:
    """The hidden representation ``(n, hidden_units)`` float32 of every point, in order.

    Batch norm runs in inference mode (moving statistics), as in ``predict``.
    """
    return infer(model, data, batch_size, hidden=True)


def kmeans_on_hidden(
    model: ClusteringModel,
    data: ArrayData,
    n_clusters: int,
    *,
    seed: int = 0,
    n_init: int = baseline_methods.DEFAULT_N_INIT,
) -> dict[str, Any]:
    """k-means++ (best of ``n_init`` restarts) on the DDC hidden representation.

    Returns:
        ``{"labels": (n,) int64, "acc": float | None, "nmi": float | None}``.
    """
    hidden = embed_data(model, data)
    return baseline_methods.kmeans_baseline(hidden, data.y, n_clusters, n_init=n_init, seed=seed)


def _config_signature(data: ArrayData, config: TrainConfig, start: PartitionStart | None = None) -> dict[str, Any]:
    """What identifies a run's training: data, configuration, the Keras dtype policy when it is
    not float32 (so a float32 run and a bf16 one are not taken for each other; a run recorded
    before the policy was part of the signature is read by :func:`_with_saved_policy`) and —
    for a refined run — its start."""
    signature = {"data": data.name, "n": data.n, "config": config.to_dict()}
    policy = _dtype_policy()
    if policy != "float32":
        signature["precision"] = policy
    return signature if start is None else {**signature, "start": start.signature()}


def _dtype_policy() -> str:
    """The global Keras dtype policy the runs train under: ``float32``, ``mixed_bfloat16``, …"""
    return keras.mixed_precision.dtype_policy().name


def _signature_difference(stored: Any, wanted: dict[str, Any], *, shown: int = 3) -> str:
    """What differs between a stored run's signature and the one asked for, as
    ``"config.jit_compile: False there, True here"``, at most ``shown`` entries."""
    def flat(value: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(value, dict):
            return {prefix: value}
        items: dict[str, Any] = {}
        for key, item in value.items():
            items.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return items

    there, here = flat(stored if isinstance(stored, dict) else {}), flat(wanted)
    missing = object()
    keys = [key for key in dict.fromkeys([*there, *here]) if there.get(key, missing) != here.get(key, missing)]
    defaults = {f"config.{f.name}": f.default for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING}

    def shown_value(values: dict[str, Any], key: str) -> str:
        if key in values:
            return repr(values[key])
        if key in defaults:  # a config leaves some of its defaults out
            return f"{defaults[key]!r} (the default)"
        return "the default" if key.startswith("config.") else "(not set)"

    parts = [f"{key}: {shown_value(there, key)} there, {shown_value(here, key)} here" for key in keys[:shown]]
    return "; ".join(parts) + (f"; and {len(keys) - shown} more" if len(keys) > shown else "")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a half-written file never looks finished


def _resolved_signature(signature: Any, backbone: str, *, normalise: bool = True) -> Any:
    """A run signature with the settings that default by the data filled in — ``backbone``
    ``"auto"`` as ``backbone`` resolved it, ``learning_rate`` None as that backbone's rate — so
    that ``--preset digits-cpu`` and the same settings spelled out are the same run; and with
    ``proportions`` normalised to sum to 1 (rounded to 12 decimals), as the model uses them, so
    that ``50,30,20`` and ``0.5,0.3,0.2`` are the same run (``normalise=False``: as given, the
    form of backup keys before this)."""
    if not isinstance(signature, dict) or not isinstance(signature.get("config"), dict):
        return signature
    config = dict(signature["config"])
    if normalise and isinstance(config.get("proportions"), list) and config["proportions"]:
        # shares as given (50,30,20 or sizes) train as their normalised form (0.5,0.3,0.2): the same run
        try:
            shares = parse_proportions(config["proportions"], len(config["proportions"]))
            config["proportions"] = [round(share, 12) for share in shares]
        except (TypeError, ValueError):
            pass  # not positive numbers: compared as recorded
    if config.get("backbone") == "auto":
        config["backbone"] = backbone
    if "learning_rate" in config and config["learning_rate"] is None and config["backbone"] in networks.BACKBONES:
        config["learning_rate"] = resolve_learning_rate(None, config["backbone"])
    return {**signature, "config": config}


def _with_saved_policy(stored: Any, model_file: Path) -> Any:
    """A stored signature from before the dtype policy was part of it, with the policy its saved
    model was trained in (``precision``) when that is not float32 — so an earlier
    ``--mixed-precision bfloat16`` run is neither taken for a float32 one nor refused as
    another configuration in bf16."""
    if not isinstance(stored, dict) or "precision" in stored:
        return stored
    try:
        with zipfile.ZipFile(model_file) as archive:
            policy = json.loads(archive.read("config.json"))["config"]["dtype"]["config"]["name"]
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return stored  # no readable policy: as recorded (float32, the default then)
    return stored if policy == "float32" else {**stored, "precision": policy}


def _retrain_advice(run_dir: Path) -> str:
    """What to do about a finished run whose files are damaged."""
    return f"delete the folder {run_dir} and repeat the command, which trains that run again"


def _load_finished(run_dir: Path | None, signature: dict[str, Any], fingerprint: str, backbone: str,
                   ) -> tuple[dict[str, Any], np.ndarray] | None:
    """``(record, cluster ids)`` of the finished run in ``run_dir``, or ``None`` if it has
    not finished; a clear error if it is a run of another configuration or other data.
    ``backbone``: the network ``signature``'s configuration resolves to on this data."""
    if run_dir is None or not (run_dir / RUN_FILE).exists():
        return None
    redo = _retrain_advice(run_dir)
    try:
        record = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{run_dir / RUN_FILE}: cannot be read ({error}); {redo}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{run_dir / RUN_FILE}: not a run record of ddc-tf; {redo}")
    stored = _with_saved_policy(_resolved_signature(record.get("signature"), backbone), run_dir / MODEL_FILE)
    signature = _resolved_signature(signature, backbone)
    stored = _with_start_partition(stored, signature)
    if (_start_partition(stored) != _start_partition(signature)
            and _without_start_partition(stored) == _without_start_partition(signature)
            and record.get("data_fingerprint", fingerprint) == fingerprint):
        # a refined run that started from DDC-ENSEMBLE as it was before some of the runs it
        # combines were trained again: not this start's run, so it is trained anew
        warnings.warn(f"{run_dir}: a refined run that started from another DDC-ENSEMBLE of these runs (some were "
                      "trained again since); it is trained again from this one", stacklevel=3)
        shutil.rmtree(run_dir)
        return None
    recorded = record.get("data_fingerprint")  # None for runs of releases before fingerprints
    if (stored != signature and isinstance(stored, dict) and recorded is not None
            and {**stored, "data": signature["data"]} == signature):
        if recorded != fingerprint:
            raise ValueError(f"{run_dir} holds a run trained on other data than {signature['data']} "
                             f"(there {stored.get('data')!r}, different inputs or labels); use another --out folder")
        stored = signature  # the same inputs and labels under another name (./mine.npz, a copy): the same run
    if stored != signature:
        raise ValueError(f"{run_dir} holds a run of a different configuration "
                         f"({_signature_difference(stored, signature)}); {_other_run_advice(stored, signature)}")
    if record.get("data_fingerprint", fingerprint) != fingerprint:  # runs from before it: trusted
        raise ValueError(
            f"{run_dir} holds a run trained on other data than {signature['data']} (same name and size, "
            "different inputs or labels); use another --out folder"
        )
    try:
        clusters = np.load(run_dir / LABELS_FILE, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{run_dir / LABELS_FILE}: cannot be read ({error}); {redo}") from None
    if clusters.shape != (signature["n"],):
        raise ValueError(f"{run_dir / LABELS_FILE}: holds {clusters.shape} cluster ids for {signature['n']} points; "
                         f"{redo}")
    return record, clusters


def _start_partition(signature: Any) -> Any:
    """The digest of the partition a refined run's signature says it started from (None if none)."""
    start = signature.get("start") if isinstance(signature, dict) else None
    return start.get("partition") if isinstance(start, dict) else None


def _without_start_partition(signature: Any) -> Any:
    """``signature`` without the digest of its start's partition."""
    if _start_partition(signature) is None:
        return signature
    return {**signature, "start": {k: v for k, v in signature["start"].items() if k != "partition"}}


def _with_start_partition(stored: Any, wanted: dict[str, Any]) -> Any:
    """A stored signature of a refined run from before starts recorded their partition's digest,
    with the digest ``wanted`` asks for (such runs are trusted, as runs from before data
    fingerprints are); any other signature as it is."""
    start = stored.get("start") if isinstance(stored, dict) else None
    if not isinstance(start, dict) or "partition" in start or _start_partition(wanted) is None:
        return stored
    return {**stored, "start": {**start, "partition": _start_partition(wanted)}}


def _finish_run(
    data: ArrayData, config: TrainConfig, seed: int, model: ClusteringModel, history: dict[str, list[float]],
    seconds: float, run_dir: Path | None, signature: dict[str, Any], fingerprint: str,
) -> tuple[dict[str, Any], np.ndarray]:
    """Score a trained run (unsupervised loss on the fixed permutation, cluster ids, ACC/NMI),
    save it in ``run_dir`` (the record last: it marks the run finished) and return
    ``(record, cluster ids)``."""
    terms = dataset_loss(model, data, batch_size=config.batch_size)
    clusters = predict_assignments(model, data).argmax(axis=1).astype(np.int64)
    record = {
        "seed": seed,
        "loss": terms["loss"],
        "terms": {k: terms[k] for k in ("l1", "l2", "l3")},
        **_metrics(data.y, clusters),
        "cluster_sizes": np.bincount(clusters, minlength=config.n_clusters).tolist(),
        "history": history,
        "seconds": round(seconds, 2),
        "signature": signature,
        "data_fingerprint": fingerprint,
    }
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        model.save(run_dir / MODEL_FILE)
        np.save(run_dir / LABELS_FILE, clusters)
        _write_json(run_dir / RUN_FILE, record)  # last: marks the run finished
        shutil.rmtree(_run_backup(run_dir), ignore_errors=True)  # the finished run no longer needs it
    return record, clusters


def _backup_key(fingerprint: str, signature: dict[str, Any], seeds: Sequence[int], backbone: str, *,
                normalise: bool = True) -> str:
    """The key a backup is stored under: the data's contents, the configuration as it resolves
    on the data and the seeds, but not the data's name — so ``./mine.npz`` resumes what
    ``/abs/mine.npz`` began, and spelled-out settings what a preset began, as a finished run is
    reused (``_load_finished``). ``normalise=False``: proportions as given (:func:`_resolved_signature`)."""
    return _key(fingerprint, {**_resolved_signature(signature, backbone, normalise=normalise), "data": None}, seeds)


def _key(fingerprint: str, signature: dict[str, Any], seeds: Sequence[int]) -> str:
    """``fingerprint:signature-as-JSON:seed:seed…``, the form of every backup key."""
    return f"{fingerprint}:{json.dumps(signature, sort_keys=True)}:{':'.join(map(str, seeds))}"


def _open_backup(backup_dir: Path | None, fingerprint: str, signature: dict[str, Any], seeds: Sequence[int],
                 backbone: str) -> str:
    """:func:`_backup_key`, after re-keying a backup in ``backup_dir`` made by a release whose key
    held the data's name and the configuration as given (so that it still resumes)."""
    key = _backup_key(fingerprint, signature, seeds, backbone)
    if backup_dir is not None:
        earlier_keys = (
            _key(fingerprint, signature, seeds),  # the data's name and the settings as given
            _backup_key(fingerprint, signature, seeds, backbone, normalise=False),  # proportions as given
            # a refined run's backup from before starts recorded their partition: resumed (trusted)
            _backup_key(fingerprint, _without_start_partition(signature), seeds, backbone),
        )
        for earlier in earlier_keys:
            rekey_backup(backup_dir, earlier, key)
        stored = backup_key(backup_dir)
        if stored is not None and stored != key and _is_stale_start(stored, key):
            warnings.warn(f"{backup_dir}: the backup of refined runs that started from another DDC-ENSEMBLE of these "
                          "runs (some were trained again since); they start over from this one", stacklevel=3)
            shutil.rmtree(backup_dir)
            return key
        if stored is not None and stored != key:
            (data_there, config_there, seeds_there), (data_here, config_here, seeds_here) = map(_key_parts, (stored, key))
            advice = (_other_run_advice(config_there, config_here)
                      if (data_there, seeds_there) == (data_here, seeds_here) else "use another --out folder")
            raise ValueError(f"{backup_dir} holds a backup of another run ({_key_difference(stored, key)}); "
                             f"{advice}, or delete the backup to start this run over")
    return key


def _is_stale_start(stored: str, wanted: str) -> bool:
    """Whether two backup keys (:func:`_key`) differ only in the partition their refined runs
    started from."""
    (data_there, config_there, seeds_there), (data_here, config_here, seeds_here) = map(_key_parts, (stored, wanted))
    return ((data_there, seeds_there) == (data_here, seeds_here)
            and _start_partition(config_there) not in (None, _start_partition(config_here))
            and _without_start_partition(config_there) == _without_start_partition(config_here))


def _key_parts(key: str) -> tuple[str, Any, str]:
    """``(data fingerprint, signature or None if unreadable, seeds)`` of a backup key (:func:`_key`)."""
    fingerprint, rest = key.split(":", 1)
    end = rest.rfind("}") + 1
    try:
        signature = json.loads(rest[:end])
    except ValueError:
        signature = None
    return fingerprint, signature, rest[end + 1:]


def _other_run_advice(stored: Any, wanted: dict[str, Any]) -> str:
    """What to do about a folder's run (or backup) of another configuration: where only the precision
    differs (``--mixed-precision auto`` resolved otherwise on another machine), the flag that continues it."""
    if isinstance(stored, dict) and {**stored, "precision": None} == {**wanted, "precision": None}:
        there = str(stored.get("precision", "float32")).removeprefix("mixed_")
        return f"--mixed-precision {there} continues these runs, or use another --out folder"
    return "use another --out folder"


def _key_difference(stored: str, wanted: str) -> str:
    """What differs between two backup keys (:func:`_key`): the data's contents, the seeds or
    the settings (as :func:`_signature_difference` names them)."""
    (data_there, config_there, seeds_there), (data_here, config_here, seeds_here) = map(_key_parts, (stored, wanted))
    if data_there != data_here:
        return "other data: different inputs or labels"
    if seeds_there != seeds_here:
        return f"seeds {seeds_there.replace(':', ', ')} there, {seeds_here.replace(':', ', ')} here"
    if config_there is None:
        return "a configuration this release cannot read"
    return _signature_difference(config_there, config_here)


#: The backup of runs trained together: ``<out>/backup_seeds_<s>_<s>…``.
_GROUP_BACKUP_PREFIX = "backup_seeds_"


def _group_backups(out: Path) -> list[tuple[Path, list[int]]]:
    """The group backups in ``out`` (:func:`_group_backup`) with the seeds their names hold, in trained order."""
    found = []
    for folder in sorted(out.glob(f"{_GROUP_BACKUP_PREFIX}*")):
        held = folder.name.removeprefix(_GROUP_BACKUP_PREFIX).split("_")
        if all(h.isdigit() for h in held):
            found.append((folder, [int(h) for h in held]))
    return found


def _run_backup(run_dir: Path) -> Path:
    """The backup of a run trained alone, inside its run folder."""
    return run_dir / "backup"


def _warn_unresumed_backups(out: Path | None, seeds: Sequence[int], used: Path | None) -> None:
    """Warn about backups in ``out`` of interrupted runs among ``seeds`` that this training,
    grouped otherwise (another ``--runs`` or ``--runs-at-once``), does not resume: it starts
    those runs over and leaves the backups as they are."""
    if out is None:
        return
    wanted = set(seeds)
    found = [folder for folder, held in _group_backups(out) if wanted & set(held) and folder != used]
    found += [backup for s in seeds if (backup := _run_backup(run_files.run_dir(out, s))).is_dir() and backup != used]
    if found:
        warnings.warn(f"{', '.join(map(str, found))}: the backup of an interrupted run of another grouping of the "
                      f"runs (--runs, --runs-at-once), which this one does not resume; seeds "
                      f"{', '.join(map(str, seeds))} start over. To resume it instead, stop and repeat the "
                      "interrupted command", stacklevel=2)


def _run_one(
    data: ArrayData,
    config: TrainConfig,
    seed: int,
    run_dir: Path | None,
    verbose: int | str,
    callbacks_for: Callable[[int], list] | None,
    neighbor_graph: Callable[[], np.ndarray | None] = lambda: None,
    start: PartitionStart | None = None,
) -> tuple[dict[str, Any], np.ndarray, Any]:
    """Train (or reload) one run; returns its record, its cluster ids and the model (``None``
    when reloaded). ``neighbor_graph()`` gives the data's neighbour indices when the run
    trains on neighbour pairs (called only if the run has to be trained). ``start``: the
    partition a refined run starts from."""
    signature = _config_signature(data, config, start)
    fingerprint = run_files.data_fingerprint(data)
    backbone = resolve_backbone(config.backbone, data)
    finished = _load_finished(run_dir, signature, fingerprint, backbone)
    if finished is not None:
        if callbacks_for is not None:
            warnings.warn(f"{run_dir}: a finished run, reused; the per-run callbacks (--log-curves, --tensorboard) "
                          "see no training of it, so it gets no new curves or logs", stacklevel=2)
        return (*finished, None)
    began = time.perf_counter()
    backup = _run_backup(run_dir) if run_dir is not None else None
    _warn_unresumed_backups(run_dir.parent.parent if run_dir is not None else None, [seed], backup)
    key = _open_backup(backup, fingerprint, signature, [seed], backbone)  # first: it may drop a stale backup
    earlier = backup_seconds(backup, key)  # trained before an interruption: counted in the run's time
    model, history = train_run(
        data, config, seed, verbose=verbose, callbacks=callbacks_for(seed) if callbacks_for else [],
        backup_dir=backup, fingerprint=key,
        neighbors=neighbor_graph(),
        start=start,
    )
    record, clusters = _finish_run(data, config, seed, model, history, earlier + time.perf_counter() - began,
                                   run_dir, signature, fingerprint)
    return record, clusters, model


def _load_run_model(run_dir: Path) -> ClusteringModel:
    """The saved model of a finished run, or a ValueError naming the file and what to do when
    it cannot be read (a damaged file: the run is trained again once its folder is gone)."""
    path = run_dir / MODEL_FILE
    try:
        return run_files.load_model(path)
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: cannot be read ({error}); {_retrain_advice(run_dir)}") from None


def _group_backup(out: Path, seeds: Sequence[int]) -> Path:
    """The backup folder of the group of runs ``seeds`` in the protocol folder ``out``."""
    return out / f"{_GROUP_BACKUP_PREFIX}{'_'.join(map(str, seeds))}"


def _interrupted_group(out: Path, seeds: Sequence[int], todo: Sequence[int]) -> list[int] | None:
    """The seeds, in their trained order, of a group backup in ``out`` that holds every unfinished run
    ``todo`` and no run outside ``seeds`` (a group interrupted after saving some of its runs — also one
    that trained only the runs an earlier, smaller protocol had not); None if there is none."""
    for folder, group in _group_backups(out):
        if folder.is_dir() and set(todo) <= set(group) <= set(seeds):
            return group
    return None


def _run_group(
    data: ArrayData,
    config: TrainConfig,
    seeds: Sequence[int],
    out: Path | None,
    verbose: int | str,
    neighbor_graph: Callable[[], np.ndarray | None],
    start: PartitionStart | None = None,
) -> list[tuple[dict[str, Any], np.ndarray, Any]]:
    """Train (or reload) the runs ``seeds`` together (``ddc_tf.experiments.grouped.train_runs``)
    — only those not finished — and return each one's ``(record, cluster ids, model)`` as
    :func:`_run_one` does; each run's ``seconds`` is the group's time divided among its runs
    (a resumed group's time includes what it trained before the interruption)."""
    signature = _config_signature(data, config, start)
    fingerprint = run_files.data_fingerprint(data)
    run_dirs = {s: run_files.run_dir(out, s) if out is not None else None for s in seeds}
    backbone = resolve_backbone(config.backbone, data)
    found = {s: _load_finished(run_dirs[s], signature, fingerprint, backbone) for s in seeds}
    todo = [s for s in seeds if found[s] is None]
    # A group interrupted while its finished runs were being scored and saved left some of them
    # unsaved and its backup (named by all its seeds) in place: resume it as it was grouped, so
    # that the unsaved runs are the ones it trained, not runs trained anew in a smaller group.
    group = (_interrupted_group(out, seeds, todo) if out is not None and todo else None) or todo
    trained: dict[int, tuple[dict[str, Any], np.ndarray, Any]] = {}
    if todo:
        began = time.perf_counter()
        backup = _group_backup(out, group) if out is not None else None
        _warn_unresumed_backups(out, group, backup)
        key = _open_backup(backup, fingerprint, signature, group, backbone)  # first: it may drop a stale backup
        earlier = backup_seconds(backup, key)  # trained before an interruption: counted in the runs' time
        results = train_runs(data, config, group, verbose=verbose, backup_dir=backup, fingerprint=key,
                             neighbors=neighbor_graph(),
                             start=start)
        seconds = (earlier + time.perf_counter() - began) / len(group)
        for seed, (model, history) in zip(group, results):
            if seed not in todo:  # saved before the interruption
                continue
            record, clusters = _finish_run(data, config, seed, model, history, seconds, run_dirs[seed],
                                           signature, fingerprint)
            trained[seed] = (record, clusters, model)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)  # every run of the group is finished
    return [trained[s] if found[s] is None else (*found[s], None) for s in seeds]


def _selection_summary(records: list[dict[str, Any]], chosen: int) -> dict[str, float | None]:
    """How well the unsupervised loss ranks the runs by ACC (reporting only, never used to
    choose): Spearman correlation of loss and ACC over the runs (negative = lower loss,
    higher ACC), and the rank by ACC of the lowest-loss run and of the chosen run
    (1 = the best run)."""
    losses_ = np.array([r["loss"] for r in records], dtype=np.float64)
    accs = np.array([r["acc"] for r in records])
    finite = np.isfinite(losses_)  # a diverged run's loss is NaN: over the others
    rho = None
    if finite.sum() >= 3 and np.ptp(losses_[finite]) > 0 and np.ptp(accs[finite]) > 0:
        rho = float(spearmanr(losses_[finite], accs[finite]).statistic)

    def rank(i: int) -> int:
        return int((accs > accs[i]).sum()) + 1

    return {"loss_acc_spearman": rho, "best_acc_rank": rank(selection.rank_runs(records, selector="loss")[0]),
            "chosen_acc_rank": rank(chosen)}


def _run_baselines(
    which: Sequence[str],
    data: ArrayData,
    n_clusters: int,
    best_seed: int,
    best_model: Callable[[], ClusteringModel],
    seed: int,
    out: Path | None,
    best_clusters: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Run (or reload from ``baselines.json``) the requested baselines. ``kmeans_hidden``'s is reloaded
    only for the same chosen network: its seed and a digest of its clusters ``best_clusters`` (a refined
    run of that seed, or one retrained from another start, clusters otherwise)."""
    cache: dict[str, Any] = {}
    cache_file = out / BASELINES_FILE if out is not None else None
    if cache_file is not None and cache_file.exists():
        cache = json.loads(cache_file.read_text())
    results: dict[str, dict[str, Any]] = {}
    for name in BASELINES:
        if name not in which:
            continue
        key = {"data": data.name, "n": data.n, "clusters": n_clusters, "seed": seed,
               "n_init": baseline_methods.DEFAULT_N_INIT}
        if name == "kmeans_hidden":
            key["ddc_seed"] = best_seed  # the representation of the chosen run
            if best_clusters is not None:
                key["ddc_clusters"] = hashlib.sha256(np.ascontiguousarray(best_clusters).tobytes()).hexdigest()[:16]
        cached = cache.get(name)
        if cached is not None and cached.get("key") == key:
            results[name] = cached["result"]
            continue
        start = time.perf_counter()
        if name == "kmeans":
            x = data.x if data.is_sparse else data.x.reshape(data.n, -1)
            found = baseline_methods.kmeans_baseline(x, data.y, n_clusters, seed=seed)
        else:
            found = kmeans_on_hidden(best_model(), data, n_clusters, seed=seed)
        result = {
            **{k: key[k] for k in key if k not in ("data", "n", "clusters", "ddc_clusters")},
            "acc": found["acc"],
            "nmi": found["nmi"],
            "seconds": round(time.perf_counter() - start, 2),
        }
        results[name] = result
        cache[name] = {"key": key, "result": result}
        if cache_file is not None:
            out.mkdir(parents=True, exist_ok=True)
            _write_json(cache_file, cache)
    return results


def refined_run_config(config: TrainConfig, steps: int | None = None) -> TrainConfig:
    """The configuration of a protocol's refined runs: ``config`` training ``steps`` mini-batches
    (``None``: ``REFINED_RUN_STEPS``, at most ``config.steps``)."""
    if steps is None:
        steps = min(REFINED_RUN_STEPS, config.steps)
    positive_int(steps, "refine_run_steps")
    return dataclasses.replace(config, steps=int(steps))


def _holding_out_dir(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``function`` holding its ``out_dir`` (``run_files.writing_folder``), when it has one."""

    @functools.wraps(function)
    def holding(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("out_dir") is None:
            return function(*args, **kwargs)
        with run_files.writing_folder(kwargs["out_dir"]):
            return function(*args, **kwargs)

    return holding


@_holding_out_dir
def run_protocol(
    data: ArrayData,
    config: TrainConfig,
    *,
    runs: int = 1,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    callbacks_for: Callable[[int], list] | None = None,
    baselines: Sequence[str] = (),
    selector: str = selection.DEFAULT_SELECTOR,
    vote_runs: int | None = None,
    progress: bool | None = None,
    distill_steps: int = 0,
    runs_at_once: int = 1,
    refine_runs: int = 0,
    refine_steps: int = REFINE_START_STEPS,
    refine_run_steps: int | None = None,
) -> tuple[dict[str, Any], ClusteringModel]:
    """Train ``runs`` models (seeds ``seed, seed+1, …``), pick one without labels, vote.

    Args:
        data: the data set (labels, if present, only for reporting).
        config: hyper-parameters shared by all runs.
        runs: number of runs R (20 in the paper).
        seed: seed of the first run.
        out_dir: where runs, ``results.json`` and the best model (``model.keras``) go;
            ``None`` keeps everything in memory.
        verbose: Keras ``fit`` verbosity.
        callbacks_for: ``seed -> list of Keras callbacks`` for each run (TensorBoard, ...).
        baselines: any of ``"kmeans"`` (k-means++, best of 20, on the raw inputs) and
            ``"kmeans_hidden"`` (the same on the chosen run's hidden representation);
            each adds a key of that name, ``{acc, nmi, seed, ...}``, to the results.
        selector: how the reported run is picked (``ddc_tf.selection.SELECTORS``): ``"loss"``
            (lowest total loss, the paper), ``"l1"``, ``"consensus"`` (most agreement
            with the other runs) or ``"ensemble"`` (most agreement with DDC-ENSEMBLE).
        vote_runs: DDC-VOTE combines the best this many runs of the selector's ranking
            (3 in the paper; no vote when fewer runs were trained); ``None``: the better half
            of the runs, at least 3 (``ddc_tf.selection.vote_size``).
        progress: print one line per run (``run i/R (seed s): loss …, time`` or that it was
            reused); default: when ``verbose``.
        distill_steps: when > 0 and DDC-ENSEMBLE was computed, the chosen run is fine-tuned
            this many mini-batches on the ensemble's cluster ids (DDC-DISTILLED,
            :func:`ddc_tf.experiments.distill.distill`) and becomes the returned and saved
            model (``model.keras``); the chosen run itself stays in ``runs/seed_<s>/``.
        runs_at_once: train this many runs together in one program
            (``ddc_tf.experiments.grouped.train_runs``; each run what it would be alone, up to
            the order of float operations); 1 trains them one by one. Not with
            ``callbacks_for`` or a ``tf.distribute`` strategy.
        refine_runs: after the ``runs`` runs, train this many more (seeds ``seed+runs, …``)
            whose fresh networks are first fitted ``refine_steps`` mini-batches to
            DDC-ENSEMBLE's cluster ids (:class:`~ddc_tf.experiments.training.PartitionStart`),
            then trained like every run; the selector, DDC-VOTE and the summary rank all
            ``runs + refine_runs`` runs (DDC-VOTE's default size: ``selection.vote_size``,
            at most ``2·refine_runs − 1``), DDC-ENSEMBLE stays that of the independent ``runs``
            (what the refined runs start from). They are kept in
            ``refined/from_seeds_<first>-<last>_start<N>_steps<S>/runs/seed_<s>/``
            (``run_files.refined_dir``). Needs ``runs ≥ 3``.
        refine_steps: the refined runs' mini-batches towards DDC-ENSEMBLE (≥ 1).
        refine_run_steps: the DDC mini-batches each refined run then trains (≥ 1); ``None``:
            ``ddc_tf.options.REFINED_RUN_STEPS`` (1 000), at most ``config.steps``.

    Returns:
        ``(results, best_model)``: the chosen run's trained model and the results dict
        written to ``results.json``: ``data, n, clusters, steps, config``, ``precision`` (the
        global Keras dtype policy the runs trained in: ``float32``, ``mixed_bfloat16``, …),
        ``refine`` (``{runs, start_steps, steps}`` of the refined runs, or None), ``runs`` (one
        ``{seed, refined, loss, consensus, ensemble_agreement, acc, nmi, ...}`` per run, the
        refined runs last:
        ``consensus`` its mean NMI with the other runs, ``ensemble_agreement`` its NMI with
        DDC-ENSEMBLE, 0 when R < 3), ``selector``,
        ``best`` (the selector's pick), ``ensemble`` (``{seeds, acc, nmi}`` of DDC-ENSEMBLE,
        the consensus clustering of all runs, ``ddc_tf.selection.ensemble``; None when
        R < 3), ``vote`` (``{acc, nmi}`` of DDC-VOTE, or None when R < 3 or fewer than
        ``vote_runs``), ``distilled``
        (``{seed, steps, acc, nmi, agreement}`` of DDC-DISTILLED — ``agreement``: the share
        of points on which it predicts the ensemble's cluster — or None), and ``summary``
        (mean ± std and max of ACC/NMI over the independent runs, ``refined_acc_mean`` and
        ``refined_nmi_mean`` with refined runs, plus how well the selection did over all runs:
        ``loss_acc_spearman``, ``best_acc_rank`` of the lowest-loss run and
        ``chosen_acc_rank`` of the pick; None without labels).
    """
    positive_int(runs, "runs")
    non_negative_int(distill_steps, "distill_steps")
    if distill_steps and config.strategy != "none":
        raise ValueError("distillation runs on one device: use distill_steps=0 with a tf.distribute strategy")
    positive_int(runs_at_once, "runs_at_once")
    if runs_at_once > 1 and (callbacks_for is not None or config.strategy != "none"):
        raise ValueError("runs_at_once > 1 trains runs together on one device, without per-run callbacks "
                         "(TensorBoard, curves): use runs_at_once=1 with callbacks_for or a strategy")
    selection.check_selector(selector)  # before hours of training, not after
    non_negative_int(refine_runs, "refine_runs")
    if refine_runs:
        positive_int(refine_steps, "refine_steps")
        refined_config = refined_run_config(config, refine_run_steps)
        if runs < selection.MIN_VOTE_RUNS:
            raise ValueError(f"refine_runs start from DDC-ENSEMBLE, which needs runs ≥ {selection.MIN_VOTE_RUNS}; "
                             f"got runs={runs}")
        if config.strategy != "none":
            raise ValueError("refined runs start on one device: use refine_runs=0 with a tf.distribute strategy")
    n_vote = selection.vote_size(runs + refine_runs, vote_runs, refined=refine_runs)  # validates before training
    seed = random_seed(seed, "seed", runs + refine_runs)  # the runs' seeds are seed, seed + 1, …
    if isinstance(baselines, str):
        baselines = (baselines,)
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:  # fail before hours of training, not after
        raise ValueError(f"unknown baseline(s) {unknown}; expected some of {list(BASELINES)}")
    check_trainable(data, config)  # before the neighbour search, which would name scikit-learn's check
    out = Path(out_dir) if out_dir is not None else None
    records, labelings, models, run_dirs = [], [], [], []
    # The neighbour graph is the same for every run: computed once, when a run first needs it.
    neighbor_graph = functools.cache(
        lambda: nearest_neighbors(data, config.neighbors, n_jobs=-1) if config.neighbors else None
    )

    def train(seeds: list[int], run_config: TrainConfig, base: Path | None, start: PartitionStart | None,
              label: str) -> None:
        """Train (or reload) the runs ``seeds`` of ``run_config`` in groups of ``runs_at_once`` into ``base``."""
        for first in range(0, len(seeds), runs_at_once):
            some = seeds[first:first + runs_at_once]
            if runs_at_once == 1:
                run_dir = run_files.run_dir(base, some[0]) if base is not None else None
                done = [_run_one(data, run_config, some[0], run_dir, verbose, callbacks_for, neighbor_graph, start)]
            else:
                done = _run_group(data, run_config, some, base, verbose, neighbor_graph, start)
            for r, s, (record, clusters, model) in zip(range(first, first + len(some)), some, done):
                if progress if progress is not None else verbose:
                    how = "reused (finished before)" if model is None else f"{record['seconds']:.1f} s"
                    print(f"{label} {r + 1}/{len(seeds)} (seed {s}): loss {record['loss']:.4f}, {how}", flush=True)
                records.append(record)
                labelings.append(clusters)
                models.append(model)
                run_dirs.append(run_files.run_dir(base, s) if base is not None else None)

    train([seed + r for r in range(runs)], config, out, None, "run")
    combined, ensemble = None, None
    if runs >= selection.MIN_VOTE_RUNS:  # DDC-ENSEMBLE: what the runs agree on
        combined = selection.ensemble(labelings, config.n_clusters, seed=seed)
        ensemble = {"seeds": [r["seed"] for r in records], **_metrics(data.y, combined)}
    if refine_runs:  # more runs, each starting from the ensemble's partition
        start = PartitionStart(combined, refine_steps, {"from": "ddc_ensemble", "seeds": ensemble["seeds"]})
        base = (run_files.refined_dir(out, seed, seed + runs - 1, refine_steps, refined_config.steps)
                if out is not None else None)
        train([seed + runs + r for r in range(refine_runs)], refined_config, base, start, "refined run")
    refined = [False] * runs + [True] * refine_runs
    diverged = [r["seed"] for r in records if not np.isfinite(r["loss"])]
    if diverged:
        warnings.warn(f"{counted(len(diverged), 'run')} (seeds {', '.join(map(str, diverged))}) ended with a loss that "
                      "is not finite: training diverged (a lower --lr, or --clipnorm, may help); they rank last",
                      stacklevel=2)
    consensus = selection.consensus_scores(labelings)
    agreement = (selection.ensemble_agreement(labelings, combined) if combined is not None
                 else np.zeros(len(records)))
    order = selection.rank_runs(records, labelings, selector, consensus=consensus, combined=combined)
    best = order[0]
    vote, voted = None, None
    if n_vote is not None:
        voted = evaluation.vote([labelings[i] for i in order[:n_vote]])
        vote = {"seeds": [records[i]["seed"] for i in order[:n_vote]], **_metrics(data.y, voted)}
    if out is not None:  # this protocol's combined clusters; none left from an earlier one in `out`
        out.mkdir(parents=True, exist_ok=True)
        # results.json first: until it is written again the folder's outputs are being replaced, and a
        # folder without it is a fit that has not finished (an interrupt from here on leaves no old
        # results.json beside new cluster files)
        (out / RESULTS_FILE).unlink(missing_ok=True)
        for name, clusters in ((ENSEMBLE_FILE, combined), (VOTE_FILE, voted), (DISTILLED_FILE, None)):
            if clusters is not None:
                np.save(out / name, clusters)
            else:
                (out / name).unlink(missing_ok=True)  # DISTILLED_FILE is written below, when distilled

    def brief(record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in ("seed", "loss", "acc", "nmi")}

    summary = None
    if data.y is not None:  # the spread of the independent runs; the refined runs apart
        accs = np.array([r["acc"] for r in records[:runs]])
        nmis = np.array([r["nmi"] for r in records[:runs]])
        summary = {
            "acc_mean": float(accs.mean()), "acc_std": float(accs.std()), "acc_max": float(accs.max()),
            "nmi_mean": float(nmis.mean()), "nmi_std": float(nmis.std()), "nmi_max": float(nmis.max()),
            **_selection_summary(records, best),
        }
        if refine_runs:
            summary["refined_acc_mean"] = float(np.mean([r["acc"] for r in records[runs:]]))
            summary["refined_nmi_mean"] = float(np.mean([r["nmi"] for r in records[runs:]]))
    results = {
        "data": data.name,
        "n": data.n,
        "clusters": config.n_clusters,
        "steps": config.steps,
        "config": config.to_dict(),
        "precision": _dtype_policy(),
        "refine": ({"runs": refine_runs, "start_steps": int(refine_steps), "steps": refined_config.steps}
                   if refine_runs else None),
        "runs": [
            {**brief(r), "refined": f, "terms": r["terms"], "consensus": float(c), "ensemble_agreement": float(a),
             "cluster_sizes": r["cluster_sizes"], "seconds": r.get("seconds")}
            for r, f, c, a in zip(records, refined, consensus, agreement)
        ],
        "selector": selector,
        "best": {**brief(records[best]), "refined": refined[best]},
        "vote": vote,
        "ensemble": ensemble,
        "distilled": None,
        "summary": summary,
    }
    if out is not None:
        if models[best] is None:  # finished earlier: read back before it replaces the folder's model
            models[best] = _load_run_model(run_dirs[best])
        # results.json, removed above, is written last (repeating an interrupted command finishes it)
        shutil.copyfile(run_dirs[best] / MODEL_FILE, out / MODEL_FILE)
        np.save(out / "best_clusters.npy", labelings[best])
        _write_json(out / DATA_FILE, describe_data(data))

    def load_best() -> ClusteringModel:
        return models[best]

    if baselines:
        results.update(
            _run_baselines(baselines, data, config.n_clusters, records[best]["seed"], load_best, seed, out,
                           labelings[best])
        )
    if distill_steps and ensemble is not None:
        start = time.perf_counter()
        model = distill(load_best(), data, combined, steps=distill_steps, batch_size=config.batch_size, seed=seed)
        distilled = predict_assignments(model, data).argmax(axis=1)
        results["distilled"] = {
            "seed": records[best]["seed"], "steps": int(distill_steps), **_metrics(data.y, distilled),
            "agreement": float(np.mean(evaluation.align_labels(distilled, combined) == distilled)),
            "seconds": round(time.perf_counter() - start, 2),
        }
        if out is not None:
            model.save(out / MODEL_FILE)  # the exported model: the distilled network
            np.save(out / DISTILLED_FILE, distilled)
    if out is not None:
        _write_json(out / RESULTS_FILE, results)
    return results, load_best()
