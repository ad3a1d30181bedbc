"""Resumable training: a run killed at any point continues exactly where its last chunk ended.

``train_run`` trains in chunks (``fit`` epochs of ``steps / LOG_CHUNKS`` batches). After
every chunk :class:`ChunkCheckpoint` writes

    backup/chunk_<e>.weights.h5   every variable: weights, batch-norm statistics, the
                                  optimizer's state and iteration count
    backup/state.json             {"epoch": e, "weights": "chunk_<e>.weights.h5",
                                   "history": {...} of chunks 1..e, "fingerprint": ...,
                                   "seed_states": the random generators' states (dropout,
                                   DCAN's prior, OT's k-means), which weights files omit,
                                   "seconds": wall seconds the run has trained, over every
                                   process that trained it, up to this chunk}

``state.json`` is replaced atomically (``os.replace``) after its weights file is complete,
so a kill at any instant leaves a consistent pair; older weight files are removed after.
On restart the run loads that pair, skips the ``e · chunk`` batches it has already trained
on (the seeded shuffle makes the batch stream a function of the step), and appends to the
history — so the resumed run computes what the uninterrupted run computes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = ["ChunkCheckpoint", "STATE_FILE", "backup_seconds", "pretraining_backup", "pretraining_fingerprint",
           "rekey_backup", "resumed_message", "seed_generators"]

STATE_FILE = "state.json"
#: A sibling run's DDC pre-training is backed up in ``<run's backup>/pretrain_seed_<seed>``.
_PRETRAINING_PREFIX = "pretrain_seed_"


def pretraining_backup(backup_dir: str | os.PathLike, seed: int) -> Path:
    """The folder, inside the run's (or group's) backup ``backup_dir``, that backs up the DDC
    pre-training of the run ``seed`` (removed with the run's backup)."""
    return Path(backup_dir) / f"{_PRETRAINING_PREFIX}{seed}"


def pretraining_fingerprint(fingerprint: str) -> str:
    """The key a run's DDC pre-training is backed up under, given the run's (or group's)."""
    return f"{fingerprint}/pretrain"


def seed_generators(model: keras.Model) -> list[keras.random.SeedGenerator]:
    """Every ``keras.random.SeedGenerator`` of ``model`` and its layers, in a fixed order.

    Their states are variables that ``save_weights`` leaves out; a resumed run needs them
    to draw the same dropout masks and prior samples as the uninterrupted run.
    """
    found: list[keras.random.SeedGenerator] = []
    seen: set[int] = set()
    for layer in model._flatten_layers(include_self=True):
        for generator in getattr(layer, "_seed_generators", ()):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def resumed_message(seeds: list[int] | tuple[int, ...], done_steps: int, steps: int) -> str:
    """What a run (or a group of runs) resumed from its backup prints: ``"seed 1: resumed from
    its backup after 300 of 3000 steps"`` (``"seeds 0, 1: … their backup …"`` for a group)."""
    whose = f"seed {seeds[0]}: resumed from its" if len(seeds) == 1 else \
        f"seeds {', '.join(str(s) for s in seeds)}: resumed from their"
    return f"{whose} backup after {min(done_steps, steps)} of {steps} steps"


def rekey_backup(backup_dir: str | os.PathLike, old: str, new: str) -> None:
    """Give a backup stored under the fingerprint ``old`` the fingerprint ``new`` (atomically),
    so that a backup made before a change of key still resumes; any other backup is left as
    it is (``ChunkCheckpoint.restore`` then refuses it if it is another run's)."""
    state_path = Path(backup_dir) / STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return  # none, or unreadable: restore() says so
    if not isinstance(state, dict) or state.get("fingerprint") != old:
        return
    tmp = state_path.with_name(STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({**state, "fingerprint": new}))
    os.replace(tmp, state_path)


def _read_state(backup_dir: str | os.PathLike | None) -> dict[str, Any]:
    """The ``state.json`` of the backup in ``backup_dir``; ``{}`` without a readable one."""
    if backup_dir is None:
        return {}
    try:
        state = json.loads((Path(backup_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def backup_key(backup_dir: str | os.PathLike) -> str | None:
    """The fingerprint a backup in ``backup_dir`` was saved under; None without a readable one."""
    return _read_state(backup_dir).get("fingerprint")


def backup_seconds(backup_dir: str | os.PathLike | None, fingerprint: str | None = None) -> float:
    """Wall seconds the run (or group) backed up in ``backup_dir`` trained before it was
    interrupted, up to its last saved chunk — its DDC pre-training included: interrupted
    before the run's first chunk, what its pre-training backups of the run's ``fingerprint``
    record (one of other settings is trained anew) —; 0 without a backup, or for one from a
    release that did not record them. A resumed run's time is this plus its own."""
    state = _read_state(backup_dir)
    if state or backup_dir is None or fingerprint is None:
        return _seconds_in(state)
    states = (_read_state(folder) for folder in sorted(Path(backup_dir).glob(f"{_PRETRAINING_PREFIX}*")))
    return sum(_seconds_in(s) for s in states if s.get("fingerprint") == pretraining_fingerprint(fingerprint))


def _seconds_in(state: dict[str, Any]) -> float:
    """The ``seconds`` a backup's state records; 0 when it records none (or nonsense)."""
    seconds = state.get("seconds", 0.0)
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else 0.0


class ChunkCheckpoint(keras.callbacks.Callback):
    """Save the training state after every ``fit`` epoch (a chunk) and restore it.

    Args:
        backup_dir: the folder of the backup (created when first needed).
        fingerprint: what identifies the run's data and configuration; a backup made
            with another fingerprint is refused rather than resumed.
    """

    def __init__(self, backup_dir: str | os.PathLike, fingerprint: str | None = None) -> None:
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.fingerprint = fingerprint
        self.history: dict[str, list[float]] = {}
        self._began = time.perf_counter()  # this process's training of the run
        self._earlier_seconds = 0.0  # what earlier processes trained (restored)

    def restore(self, model: keras.Model) -> int:
        """Load the last saved chunk into ``model`` (built and compiled) and return how
        many chunks are done (0 with no backup); ``self.history`` then holds theirs."""
        state_path = self.backup_dir / STATE_FILE
        if not state_path.is_file():
            self._earlier_seconds = backup_seconds(self.backup_dir, self.fingerprint)  # an interrupted pre-training's
            return 0
        try:
            state = json.loads(state_path.read_text())
            epoch, weights = int(state["epoch"]), self.backup_dir / state["weights"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{state_path}: unreadable training backup ({error}); delete {self.backup_dir}") from None
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.backup_dir} holds a backup of another run (different data or configuration); "
                "use another --out folder or delete it"
            )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(weights)
        generators = seed_generators(model)
        states = state.get("seed_states", [])
        if len(states) != len(generators):
            raise ValueError(f"{state_path}: {len(states)} random-generator states for {len(generators)} generators")
        for generator, value in zip(generators, states):
            generator.state.assign(np.asarray(value, dtype=generator.state.dtype))
        self.history = {k: [float(v) for v in vals] for k, vals in state.get("history", {}).items()}
        self._earlier_seconds = _seconds_in(state)
        return epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"chunk_{epoch + 1}.weights.h5"
        self.model.save_weights(self.backup_dir / name, overwrite=True)
        state: dict[str, Any] = {
            "epoch": epoch + 1,
            "weights": name,
            "history": self.history,
            "fingerprint": self.fingerprint,
            "seed_states": [np.asarray(g.state.numpy()).tolist() for g in seed_generators(self.model)],
            "seconds": round(self._earlier_seconds + time.perf_counter() - self._began, 2),
        }
        tmp = self.backup_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.backup_dir / STATE_FILE)  # atomic: the new pair is complete
        for old in self.backup_dir.glob("chunk_*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)
