"""The files of a ``ddc-tf fit`` output folder, in one place (protocol, export, predict, plot).

A protocol folder ``out/`` holds::

    results.json            every run's loss, terms, ACC/NMI, the selection and VOTE/ENSEMBLE
    model.keras             the selected run's model
    data.json               how its inputs were made (name, raw dtype, scale, shape)
    baselines.json          cached k-means++ baselines
    vote_clusters.npy       DDC-VOTE's cluster of every point
    ensemble_clusters.npy   DDC-ENSEMBLE's cluster of every point
    runs/seed_<s>/          one run: model.keras, clusters.npy, run.json (written last)

An export (``ddc-tf export``) is a SavedModel base path of integer versions,
``<name>/<version>/saved_model.pb``; :func:`resolve_saved_model_dir` finds it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from ddc_tf.data import ArrayData

__all__ = [
    "BASELINES_FILE",
    "DATA_FILE",
    "DISTILLED_FILE",
    "ENSEMBLE_FILE",
    "LABELS_FILE",
    "MODEL_FILE",
    "RESULTS_FILE",
    "RUN_FILE",
    "RUNS_DIR",
    "SAVED_MODEL_FILE",
    "REFINED_DIR",
    "VOTE_FILE",
    "data_fingerprint",
    "describe_data",
    "find_model_file",
    "is_saved_model",
    "list_versions",
    "load_model",
    "refined_dir",
    "resolve_saved_model_dir",
    "run_dir",
    "unfinished_fit",
]

RESULTS_FILE = "results.json"
MODEL_FILE = "model.keras"
#: The file that makes a folder a SavedModel (``ddc-tf export``'s output).
SAVED_MODEL_FILE = "saved_model.pb"
#: Beside the model: how its inputs were made (name, raw dtype, scale, shape), for export.
DATA_FILE = "data.json"
BASELINES_FILE = "baselines.json"
VOTE_FILE = "vote_clusters.npy"
ENSEMBLE_FILE = "ensemble_clusters.npy"
#: The cluster ids of DDC-DISTILLED (the chosen run fine-tuned on DDC-ENSEMBLE).
DISTILLED_FILE = "distilled_clusters.npy"
RUNS_DIR = "runs"
#: The protocol's refined runs (started from DDC-ENSEMBLE), one sub-folder per ensemble.
REFINED_DIR = "refined"
#: In a run folder: the run's record (written last: it marks the run finished) and clusters.
RUN_FILE = "run.json"
LABELS_FILE = "clusters.npy"
#: In a protocol folder: locked while a process writes the folder (:func:`writing_folder`).
LOCK_FILE = ".ddc_tf.lock"


@contextlib.contextmanager
def writing_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold a protocol folder for one process while it trains and writes there: a second
    process (another ``ddc-tf fit`` with the same ``--out``) gets an OSError naming the first
    at once, instead of training the same runs beside it and writing over its files. The lock
    (``fcntl.flock`` on :data:`LOCK_FILE`) goes with the process, however it ends; where
    ``fcntl`` is missing (Windows) the folder is not locked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield folder
        return
    with open(folder / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OSError(f"{folder}: {holder} is writing to this folder; wait for it to finish, or use "
                          "another output folder (--out; out_dir= in Python)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"ddc-tf (process {os.getpid()})")
        handle.flush()
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_dir(out: str | os.PathLike, seed: int) -> Path:
    """The folder of the run with ``seed`` inside the protocol folder ``out``."""
    return Path(out) / RUNS_DIR / f"seed_{int(seed)}"


def refined_dir(out: str | os.PathLike, first_seed: int, last_seed: int, start_steps: int, steps: int) -> Path:
    """The protocol folder (``runs/seed_<s>/`` inside) of the refined runs that start from the
    DDC-ENSEMBLE of the runs ``first_seed … last_seed`` of the protocol folder ``out``, fitted
    ``start_steps`` mini-batches to it, then trained ``steps`` (other settings, other folder: the
    independent runs are reused, the refined runs trained anew)."""
    name = f"from_seeds_{int(first_seed)}-{int(last_seed)}_start{int(start_steps)}_steps{int(steps)}"
    return Path(out) / REFINED_DIR / name


def describe_data(data: "ArrayData") -> dict[str, Any]:
    """What a served model needs to know of its training inputs (written to ``data.json``)."""
    return {
        "name": data.name,
        "kind": data.kind,
        "n": data.n,
        "input_shape": list(data.input_shape),
        "raw_dtype": data.raw_dtype,
        "scale": data.scale,
        "n_classes": data.n_classes,
        "class_names": list(data.class_names) if data.class_names else None,
        "image_shape": list(data.image_shape) if data.image_shape else None,
        "sparse": data.is_sparse,
        "load_options": dict(data.load_options) if data.load_options else None,
        "feature_names": list(data.feature_names) if data.feature_names else None,
    }


def find_data_description(model_file: str | os.PathLike) -> Path | None:
    """The ``data.json`` that describes ``model_file``'s training data: the one beside it —
    or, for one run's model in a protocol folder (``runs/seed_S/``, ``refined/…/runs/seed_S/``),
    the protocol's —; None when there is none."""
    folder = Path(model_file).parent
    folders = [folder]
    if folder.parent.name == RUNS_DIR and folder.name.startswith("seed_") and folder.name[5:].isdigit():
        base = folder.parent.parent
        folders += [base, base.parent.parent] if base.parent.name == REFINED_DIR else [base]
    return next((f / DATA_FILE for f in folders if (f / DATA_FILE).is_file()), None)


def read_data_description(model_file: str | os.PathLike) -> dict[str, Any] | None:
    """The content of :func:`find_data_description`'s ``data.json`` (:func:`describe_data` of
    the training data), or None when there is none; a ValueError naming the file when it
    cannot be read."""
    described = find_data_description(model_file)
    return None if described is None else read_description_file(described)


def read_description_file(path: Path) -> dict[str, Any]:
    """The content of the ``data.json`` at ``path``; a ValueError naming it when it cannot be read."""
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable data description: {error}") from None


def data_fingerprint(data: "ArrayData") -> str:
    """A hash of everything in ``data`` a run depends on: the inputs' shape, dtype and every
    value (dense bytes, or a sparse matrix's data, indices and pointers) and the labels.
    A protocol folder refuses to reuse a finished run trained on data with another hash."""
    import hashlib

    import numpy as np

    h = hashlib.blake2b(digest_size=16)
    x = data.x
    h.update(repr((type(x).__name__, tuple(x.shape), str(x.dtype))).encode())
    if data.is_sparse:
        csr = x.tocsr()
        for part in (csr.data, csr.indices, csr.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        h.update(np.ascontiguousarray(x).data)
    if data.y is not None:
        h.update(np.ascontiguousarray(data.y, dtype=np.int64).tobytes())
    return h.hexdigest()


def find_model_file(path: str | os.PathLike) -> Path:
    """The ``.keras`` file ``path`` names: the file itself, or ``model.keras`` in a
    ``ddc-tf fit --out`` folder. FileNotFoundError / ValueError name what is wrong."""
    path = Path(path)
    if path.is_dir():
        unfinished_fit(path)
        if not (path / MODEL_FILE).is_file():
            if resolve_saved_model_dir(path) is not None:
                raise ValueError(
                    f"{path}: a SavedModel, which serves predictions (`ddc-tf predict` reads it) but keeps no "
                    f"Keras layers; give the Keras model it was exported from (a `ddc-tf fit --out` folder or "
                    f"its {MODEL_FILE})"
                )
            raise FileNotFoundError(
                f"{path}: no {MODEL_FILE} in this folder (give a .keras file or a `ddc-tf fit --out` folder)"
            )
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file (give a .keras file or a `ddc-tf fit --out` folder)")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a Keras model file ending in .keras")
    return path


def unfinished_fit(folder: str | os.PathLike) -> None:
    """A ValueError when ``folder`` is a ``ddc-tf fit --out`` folder (it holds ``runs/``) whose
    fit has not finished: no ``results.json``, which a fit removes while it replaces the folder's
    outputs and writes last. Its ``model.keras`` may then be an earlier fit's, or the chosen run
    before distillation — not what ``results.json`` will describe."""
    folder = Path(folder)
    if (folder / RUNS_DIR).is_dir() and not (folder / RESULTS_FILE).is_file():
        has_model = (folder / MODEL_FILE).is_file()
        found = f"its {MODEL_FILE} may be an earlier fit's or not yet the saved model; " if has_model else ""
        use = f", or give {folder / MODEL_FILE} itself to use that file as it is" if has_model else ""
        raise ValueError(
            f"{folder}: the `ddc-tf fit` writing this folder has not finished (no {RESULTS_FILE}); {found}"
            f"repeat that fit command to finish it (finished runs are reused){use}"
        )


def list_versions(model_base: str | os.PathLike) -> list[int]:
    """Integer version folders under a SavedModel base path (``saved_models/<name>``), sorted."""
    base = Path(model_base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def is_saved_model(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder holding a ``saved_model.pb``."""
    return (Path(path) / SAVED_MODEL_FILE).is_file()


def resolve_saved_model_dir(path: str | os.PathLike) -> Path | None:
    """``path`` itself if it is a SavedModel; its highest integer version if it is a model
    base path (``saved_models/<name>``); otherwise None."""
    path = Path(path)
    if is_saved_model(path):
        return path
    for version in reversed(list_versions(path)):
        if is_saved_model(path / str(version)):
            return path / str(version)
    return None


def load_model(path: str | os.PathLike) -> Any:
    """A trained clustering model from a ``.keras`` file or a ``ddc-tf fit`` output folder; a
    ValueError naming the file when it is not a ``.keras`` archive or holds another model."""
    import zipfile

    import keras

    import ddc_tf.models  # noqa: F401  (registers DDC, OTClustering and DCAN for deserialisation)

    file = find_model_file(path)
    if not zipfile.is_zipfile(file):  # Keras would say "File not found"
        raise ValueError(f"{file}: not a .keras model file (a .keras file is a zip archive)")
    with zipfile.ZipFile(file) as archive:
        if "config.json" not in archive.namelist():  # Keras would raise a KeyError
            raise ValueError(f"{file}: a zip archive but not a .keras model (no config.json in it)")
    model = keras.models.load_model(file)
    if not isinstance(model, ddc_tf.models.ClusteringModel):
        raise ValueError(f"{file}: holds a {type(model).__name__}, not a ddc_tf clustering model "
                         "(DDC, OTClustering or DCAN)")
    return model
