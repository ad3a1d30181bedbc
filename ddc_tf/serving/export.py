"""SavedModel export for TF Serving: ``saved_models/<name>/<version>/``.

A trained DDC model is written as a SavedModel that TF Serving (or any TensorFlow
process, without ``ddc_tf``) loads as it is. The input scaling used in training lives
*in the graph*, so a client sends raw inputs (uint8 pixels, raw feature values), not what
the training code normalised.

Layout (TF Serving's: integer version folders under a model base path)::

    saved_models/<name>/<version>/
        saved_model.pb
        variables/
        assets.extra/ddc_tf.json      # metadata (see below); not loaded by the graph

Signatures:

- ``serving_default``: ``x`` — ``(None, *input_shape)`` in the training data's raw dtype
  (``uint8`` for images read from IDX/PNG/uint8 ``.npz``, ``float32`` for vectors) →
  ``{"probabilities": (None, k) float32, "cluster": (None,) int64}``;
- ``embed``: ``x`` (same) → ``{"hidden": (None, hidden_units) float32}``, the hidden
  representation the DDC kernel is computed on.

Inside the graph the input is checked (float inputs: NaN/Inf → ``InvalidArgumentError``;
the signature itself rejects a wrong dtype or shape), cast to float32 and multiplied by
the training data's ``scale`` (``x = raw · scale``: 1/255 for uint8 images, 1/16 for
scikit-learn's digits, 1 otherwise), exactly as ``ddc_tf.data`` scaled it for training.

A ``model.keras`` does not know how its inputs were scaled; :func:`resolve_input_spec`
takes that from explicit options, from the training data, or from the ``data.json``
that ``run_protocol`` writes beside the model (in that order).

Example:
    >>> from ddc_tf.serving.export import export_from_path
    >>> path = export_from_path("outputs/digits/model.keras", name="digits")
    >>> path
    PosixPath('outputs/saved_models/digits/1')
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddc_tf import run_files
from ddc_tf._version import __version__
from ddc_tf.models import ClusteringModel
from ddc_tf.models.base import model_input_shape
from ddc_tf.options import DEFAULT_EXPORT_DIR
from ddc_tf.checks import is_positive_int, positive_int
from ddc_tf.run_files import DATA_FILE, describe_data, is_saved_model, list_versions, resolve_saved_model_dir

__all__ = [
    "DEFAULT_BASE_DIR",
    "METADATA_FILE",
    "SERVING_SIGNATURE",
    "EMBED_SIGNATURE",
    "INPUT_KEY",
    "InputSpec",
    "export_model",
    "export_from_path",
    "read_metadata",
    "resolve_input_spec",
    "list_versions",
    "next_version",
    "is_saved_model",
    "resolve_saved_model_dir",
]

#: Where exports go by default: under the ignored ``outputs/`` (the tracked ``saved_models/``
#: holds only the example model).
DEFAULT_BASE_DIR = DEFAULT_EXPORT_DIR
#: Metadata inside each version folder; ``assets.extra`` is where TF Serving expects
#: files that sit beside a SavedModel without being part of the graph.
METADATA_FILE = "assets.extra/ddc_tf.json"
SERVING_SIGNATURE = "serving_default"
EMBED_SIGNATURE = "embed"
#: Name of the single input of both signatures (``saved_model_cli run --inputs x=...``).
INPUT_KEY = "x"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLUSTER = "cluster"
OUTPUT_HIDDEN = "hidden"
#: Raw input dtypes a signature may take (``ddc_tf.data`` loaders report uint8 for images,
#: float32 for real-valued data, and the integer type of integer arrays).
SUPPORTED_RAW_DTYPES = (
    "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
)

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")


# --------------------------------------------------------------------------- input spec
@dataclass(frozen=True)
class InputSpec:
    """What a served model takes and how it scales it.

    Attributes:
        input_shape: shape of one example, without the batch axis (e.g. ``(28, 28, 1)``).
        raw_dtype: dtype clients send (``"uint8"``, ``"float32"``, ...).
        scale: the model sees ``float32(raw) · scale``.
        data: name of the training data set (or path), for the metadata; may be None.
        kind: ``"image"`` or ``"vector"``, or None when unknown.
    """

    input_shape: tuple[int, ...]
    raw_dtype: str
    scale: float
    data: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        if not shape or not all(is_positive_int(d) for d in shape):
            raise ValueError(f"input_shape must be positive integers, got {self.input_shape!r}")
        object.__setattr__(self, "input_shape", tuple(int(d) for d in shape))
        try:
            raw = str(np.dtype(self.raw_dtype)) if self.raw_dtype is not None else None
        except TypeError:
            raw = None
        if raw not in SUPPORTED_RAW_DTYPES:
            raise ValueError(
                f"input dtype {self.raw_dtype!r} is not supported; expected one of {SUPPORTED_RAW_DTYPES}"
            )
        object.__setattr__(self, "raw_dtype", raw)
        scale = float(self.scale)
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)

    @property
    def is_float(self) -> bool:
        return np.dtype(self.raw_dtype).kind == "f"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def same_scale(a: float, b: float) -> bool:
    """Whether two input scales are the same units: equal to 0.1 % (``0.00392`` typed for ``1/255``); the
    scales that differ (1, 1/16, 1/255) differ by far more."""
    return bool(np.isclose(float(a), float(b), rtol=1e-3, atol=0))


def recorded_unless_contradicted(given: Any, recorded: Any, where: Any, source: Any, name: str = "scale",
                                 leave: str | None = None) -> Any:
    """A model's recorded input ``scale`` (or ``input_dtype``), which a ``given`` one may
    repeat but not change (``given`` when nothing is recorded): a model run on inputs in other
    units than it was trained on only gives wrong clusters. The ValueError names ``where`` the
    given value comes from, the ``source`` of the recorded one, and what to do (``leave``)."""
    if given is None or recorded is None:
        return recorded if given is None else given
    same = same_scale(given, recorded) if name == "scale" else given == recorded
    if not same:
        leave = leave or f"leave {name} out (it is for a .keras model without data.json)"
        raise ValueError(f"{where}: {name} {given} contradicts the {name} the model was trained with, {recorded} "
                         f"({source}); {leave}")
    return recorded


def parse_dtype(value: str) -> str:
    """The canonical numpy name of a dtype (``"uint8"``, ``"float32"``), or a ValueError."""
    try:
        return str(np.dtype(value))
    except TypeError as err:
        raise ValueError(f"unknown input dtype {value!r}: {err}") from None


def resolve_input_spec(
    model: Any,
    *,
    model_path: str | os.PathLike | None = None,
    data: Any = None,
    scale: float | None = None,
    input_dtype: str | None = None,
) -> tuple[InputSpec, dict[str, Any] | None]:
    """Decide the raw input dtype, scale and shape of an export.

    Sources, highest priority first: explicit ``scale`` / ``input_dtype``; ``data`` (an
    ``ArrayData`` or a source for ``ddc_tf.data.load_arrays``: its ``raw_dtype``,
    ``scale``, ``input_shape``); the ``data.json`` of ``model_path``. The input shape
    is the model's build shape (checked against the data's when both are known). A model
    with a ``data.json`` keeps its scale: a ``scale``, or ``data`` read at another scale,
    that contradicts it is refused (the export would cluster its inputs in other units
    than the model was trained on); the raw dtype may change (digits' whole 0…16 values
    served as uint8).

    Returns:
        ``(spec, data_description)``: the :class:`InputSpec` and the description of the
        training data (``data.json``'s content, or that of ``data``), or None.

    Raises:
        ValueError: the scaling cannot be determined, or sources disagree on the shape.
    """

    described: dict[str, Any] | None = None
    origin = None
    recorded_file = run_files.find_data_description(model_path) if model_path is not None else None
    recorded = run_files.read_description_file(recorded_file) if recorded_file is not None else None
    recorded_at = str(recorded_file) if recorded_file is not None else None
    if data is not None:
        from ddc_tf.data import ArrayData, load_arrays

        arrays = data if isinstance(data, ArrayData) else load_arrays(data)
        described = describe_data(arrays)
        origin = f"data {arrays.name!r}"
        if recorded is not None:
            recorded_unless_contradicted(described.get("scale"), recorded.get("scale"), origin, recorded_at,
                                         leave="give data read as in training, or leave --data out")
    elif recorded is not None:
        described, origin = recorded, recorded_at

    model_shape = model_input_shape(model)
    data_shape = tuple(described["input_shape"]) if described and described.get("input_shape") else None
    if model_shape and data_shape and tuple(model_shape) != tuple(data_shape):
        raise ValueError(
            f"the model was built for inputs of shape {model_shape} but {origin} has "
            f"examples of shape {data_shape}"
        )
    shape = model_shape or data_shape
    if shape is None:
        raise ValueError("the model is not built and no data gives the input shape; build it first")

    raw_dtype = parse_dtype(input_dtype) if input_dtype is not None else (described or {}).get("raw_dtype")
    if recorded is not None:  # a recorded scale is kept; else a given one wins over --data's
        scale = recorded_unless_contradicted(scale, recorded.get("scale"), "--scale", recorded_at,
                                             leave="leave --scale out (it is for a model without data.json)")
    elif scale is None:
        scale = (described or {}).get("scale")
    missing = [opt for opt, value in (("--scale", scale), ("--input-dtype", raw_dtype)) if value is None]
    if missing:
        where = f" (no {DATA_FILE} beside {model_path})" if model_path is not None else ""
        raise ValueError(
            f"cannot tell how the model's inputs were scaled{where}: give the training data "
            f"(--data SOURCE) or {' and '.join(missing)} (e.g. --input-dtype uint8 --scale "
            "0.00392156862745098 for uint8 images scaled by 1/255)"
        )
    spec = InputSpec(
        input_shape=shape,
        raw_dtype=raw_dtype,
        scale=scale,
        data=(described or {}).get("name"),
        kind=(described or {}).get("kind"),
    )
    return spec, described


# --------------------------------------------------------------------------- versions
# list_versions, is_saved_model and resolve_saved_model_dir read only the folder layout, so they
# live in ddc_tf.run_files (no TensorFlow; find_model_file uses them too) and are re-exported here.
def next_version(model_base: str | os.PathLike) -> int:
    """The next free version: one more than the highest existing (1 for a new model)."""
    versions = list_versions(model_base)
    return versions[-1] + 1 if versions else 1


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"model name {name!r} must be a plain folder name (letters, digits, '.', '_', '-'; "
            "not starting with '.' or '-')"
        )
    return name


def _check_version(version: Any) -> int:
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    return positive_int(version, "version", " (TF Serving loads integer version folders)")


# --------------------------------------------------------------------------- graph
def _check_model(model: Any) -> None:
    if not isinstance(model, ClusteringModel):
        raise TypeError(
            f"expected a ddc_tf clustering model (DDC, OTClustering or DCAN), got {type(model).__name__}"
        )
    if not model.built:
        raise ValueError("the model is not built; call model.build((None, *input_shape)) first")


def build_archive(model: Any, spec: InputSpec) -> Any:
    """A ``keras.export.ExportArchive`` with the ``serving_default`` and ``embed`` endpoints."""
    import keras
    import tensorflow as tf

    _check_model(model)
    built_for = model_input_shape(model)
    if built_for is not None and tuple(spec.input_shape) != built_for:
        raise ValueError(f"the input spec's shape {tuple(spec.input_shape)} is not the model's input shape "
                         f"{built_for}; export with input_shape={built_for} (or no spec: it is read from the model)")
    raw_dtype = tf.as_dtype(spec.raw_dtype)
    scale = spec.scale
    input_spec = tf.TensorSpec((None, *spec.input_shape), raw_dtype, name=INPUT_KEY)

    def preprocess(x: tf.Tensor) -> tf.Tensor:
        # A restored signature does not check the runtime shape of what it is fed (TF
        # Serving neither): without this, a wrong shape fails deep inside the network.
        x = tf.ensure_shape(x, (None, *spec.input_shape), name="check_input_shape")
        if raw_dtype.is_floating:
            x = tf.debugging.assert_all_finite(
                x, f"ddc_tf: input '{INPUT_KEY}' contains NaN or Inf values"
            )
        x = tf.cast(x, tf.float32)
        if scale != 1.0:
            x = x * tf.constant(scale, tf.float32)
        return x

    def serve(x: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.cast(model(preprocess(x), training=False), tf.float32)
        return {
            OUTPUT_PROBABILITIES: probabilities,
            OUTPUT_CLUSTER: tf.argmax(probabilities, axis=1, output_type=tf.int64),
        }

    def embed(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {OUTPUT_HIDDEN: tf.cast(model.embed(preprocess(x), training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[input_spec])
    archive.add_endpoint(EMBED_SIGNATURE, embed, input_signature=[input_spec])
    return archive


def _signature_description(model: Any, spec: InputSpec) -> dict[str, Any]:
    x = {"dtype": spec.raw_dtype, "shape": [None, *spec.input_shape]}
    return {
        SERVING_SIGNATURE: {
            "inputs": {INPUT_KEY: x},
            "outputs": {
                OUTPUT_PROBABILITIES: {"dtype": "float32", "shape": [None, int(model.n_clusters)]},
                OUTPUT_CLUSTER: {"dtype": "int64", "shape": [None]},
            },
        },
        EMBED_SIGNATURE: {
            "inputs": {INPUT_KEY: x},
            "outputs": {OUTPUT_HIDDEN: {"dtype": "float32", "shape": [None, int(model.hidden_units)]}},
        },
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --------------------------------------------------------------------------- export
def export_model(
    model: Any,
    name: str,
    *,
    spec: InputSpec,
    version: int | None = None,
    base_dir: str | os.PathLike = DEFAULT_BASE_DIR,
    data_description: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    source_model: str | os.PathLike | None = None,
) -> Path:
    """Export ``model`` to ``base_dir/name/version`` (a new folder; never overwrites).

    Args:
        model: a built ``ddc_tf.DDC``.
        name: the model name (TF Serving's ``MODEL_NAME``): a plain folder name.
        spec: raw input dtype, scale and shape (:func:`resolve_input_spec`).
        version: a positive integer; default the next free version.
        base_dir: the folder holding all served models.
        data_description: the training data's description (``data.json``), for metadata.
        training: training results (``results.json``), for metadata.
        source_model: where the model came from, for metadata.

    Returns:
        The version folder, e.g. ``saved_models/digits/1``.

    Raises:
        FileExistsError: ``version`` exists already.
        ValueError / TypeError: bad name, version or model.
    """
    import keras
    import tensorflow as tf

    _check_name(name)
    _check_model(model)
    explicit = version is not None
    if explicit:
        version = _check_version(version)
    model_base = Path(base_dir) / name

    def exists_error(target: Path) -> FileExistsError:
        return FileExistsError(
            f"{target} exists already: versions are never overwritten; pick another "
            f"--version or leave it out to use the next free one ({next_version(model_base)})"
        )

    if explicit and (model_base / str(version)).exists():
        raise exists_error(model_base / str(version))  # before the (slow) export
    _warn_if_clients_break(model_base, spec, model.n_clusters)
    model_base.mkdir(parents=True, exist_ok=True)

    archive = build_archive(model, spec)
    tmp = model_base / f".tmp-export-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        archive.write_out(str(tmp), verbose=False)
        for attempt in range(100):
            target_version = version if explicit else next_version(model_base)
            target = model_base / str(target_version)
            if target.exists():
                if explicit:
                    raise exists_error(target)
                continue  # another export took this version meanwhile
            metadata = {
                "format": "ddc_tf.saved_model/1",
                "ddc_tf_version": __version__,
                "tensorflow_version": tf.__version__,
                "keras_version": keras.__version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "name": name,
                "version": target_version,
                "source_model": str(source_model) if source_model is not None else None,
                "input": {**spec.to_dict(), "preprocessing": "x = cast(raw, float32) * scale"},
                "data": data_description,
                "model": model.describe(),
                "signatures": _signature_description(model, spec),
                "training": training,
            }
            meta_path = tmp / METADATA_FILE
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(metadata, indent=2, default=_json_default) + "\n")
            try:
                os.rename(tmp, target)  # atomic: TF Serving never sees a half-written version
            except OSError as err:
                if not target.exists():
                    raise
                if explicit:
                    raise exists_error(target) from err
                continue
            return target
        raise RuntimeError(f"{model_base}: could not claim a free version folder")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _warn_if_clients_break(model_base: Path, spec: InputSpec, n_clusters: int) -> None:
    """A warning when the highest version under ``model_base`` takes other inputs (shape, raw
    dtype, scale) or gives another number of clusters than an export of ``spec`` would: TF
    Serving moves to the new highest version by itself, and its clients would break."""
    versions = list_versions(model_base)
    if not versions:
        return
    try:
        served = read_metadata(model_base / str(versions[-1])) or {}
    except (OSError, ValueError):
        return
    was = served.get("input") or {}
    before = {"input shape": tuple(was.get("input_shape") or ()), "raw dtype": was.get("raw_dtype"),
              "scale": was.get("scale"), "clusters": (served.get("model") or {}).get("n_clusters")}
    after = {"input shape": tuple(spec.input_shape), "raw dtype": spec.raw_dtype, "scale": spec.scale,
             "clusters": int(n_clusters)}
    changed = [key for key in before if before[key] is not None and (
        not same_scale(before[key], after[key]) if key == "scale" else before[key] != after[key])]
    if changed:
        warnings.warn(
            f"{model_base}: version {versions[-1]} serves {', '.join(f'{k} {before[k]}' for k in changed)}; this "
            f"export serves {', '.join(f'{k} {after[k]}' for k in changed)}. TF Serving moves to the highest version "
            "by itself, so its clients must change with it; export under another --name to serve both",
            stacklevel=3)


def read_metadata(saved_model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``ddc_tf`` metadata of an export (None if the folder has none)."""
    path = Path(saved_model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def export_from_path(
    model_path: str | os.PathLike,
    name: str,
    *,
    version: int | None = None,
    base_dir: str | os.PathLike = DEFAULT_BASE_DIR,
    data: Any = None,
    scale: float | None = None,
    input_dtype: str | None = None,
    source: str | None = None,
) -> Path:
    """Export a saved ``model.keras`` (e.g. ``run_protocol``'s best model).

    The input scaling comes from ``scale``/``input_dtype``, ``data``, or the ``data.json``
    beside the model (see :func:`resolve_input_spec`); a ``results.json`` beside it is
    copied into the metadata as the training results. ``source`` describes where the
    model came from in the metadata (default: ``model_path``).

    Returns:
        The new version folder.
    """
    model_path = run_files.find_model_file(model_path)
    model = run_files.load_model(model_path)
    spec, described = resolve_input_spec(
        model, model_path=model_path, data=data, scale=scale, input_dtype=input_dtype
    )
    training = None
    results_path = model_path.parent / run_files.RESULTS_FILE
    if results_path.is_file():
        try:
            training = json.loads(results_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{results_path}: unreadable results: {err}") from None
    return export_model(
        model,
        name,
        spec=spec,
        version=version,
        base_dir=base_dir,
        data_description=described,
        training=training,
        source_model=source if source is not None else model_path,
    )
