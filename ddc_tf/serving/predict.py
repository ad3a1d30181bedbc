"""Prediction on new data: cluster ids and probabilities, batch by batch.

A *predictor* is a trained clusterer loaded from either

- an exported SavedModel (``saved_models/<name>/<version>``, or ``saved_models/<name>``
  for its highest version; see :mod:`ddc_tf.serving.export`), run through its ``serving_default``
  / ``embed`` signatures — exactly what TF Serving runs; or
- a ``model.keras`` (e.g. ``run_protocol``'s best model), with the input scaling taken
  from the ``data.json`` beside it or given explicitly.

What the data means:

- an **array** passed to :meth:`Predictor.predict_raw`, or a **``.npy`` file**, holds raw
  inputs exactly as the serving signature takes them (``uint8`` pixels, raw feature
  values): the same thing a TF Serving client sends, or ``saved_model_cli run --inputs
  x=file.npy``;
- any **other source** (a data set name, an ``.npz``, an IDX file or folder, an image
  folder) is read with the same rules as training data (``ddc_tf.data``), so new data in
  the training data's format is preprocessed as the training data was.

Streaming: ``.npy`` files are memory-mapped, the dense ``x`` of an ``.npz`` (compressed or
not) and IDX files are decompressed and read ``batch_size`` rows at a time, so their inputs
are never all in memory. Other sources (named data sets, image folders, sparse ``.npz``)
are loaded by ``ddc_tf.data`` first and then predicted batch by batch. The outputs (k
probabilities and a cluster id per row) are written batch by batch to ``.csv``, or
gathered for ``.npz``.

Example:
    >>> from ddc_tf.serving.predict import load_predictor, predict_to_file
    >>> predictor = load_predictor("saved_models/digits")       # highest version
    >>> result = predictor.predict_raw(raw_digits)               # float32 (n, 64), 0..16
    >>> result["cluster"], result["probabilities"].shape
    >>> predict_to_file(predictor, "new_images.npz", "clusters.csv")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ddc_tf import run_files
from ddc_tf.checks import positive_int
from ddc_tf.run_files import MODEL_FILE, unfinished_fit
from ddc_tf.serving.streams import DEFAULT_BATCH_SIZE, DataStream, open_data
from ddc_tf.serving.writers import CsvWriter, NpzWriter
from ddc_tf.serving.export import (
    EMBED_SIGNATURE,
    INPUT_KEY,
    OUTPUT_CLUSTER,
    OUTPUT_HIDDEN,
    OUTPUT_PROBABILITIES,
    SERVING_SIGNATURE,
    InputSpec,
    parse_dtype,
    read_metadata,
    recorded_unless_contradicted,
    resolve_saved_model_dir,
    same_scale,
)
from ddc_tf.models.base import model_input_shape

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "OUTPUT_FORMATS",
    "Predictor",
    "DataStream",
    "load_predictor",
    "open_data",
    "predict",
    "predict_to_file",
    "check_raw_inputs",
    "check_feature_names",
    "check_scaling",
]

OUTPUT_FORMATS = (".npz", ".csv")


# --------------------------------------------------------------------------- input checks
def check_raw_inputs(
    values: Any, raw_dtype: str, input_shape: tuple[int, ...], where: str = "inputs"
) -> np.ndarray:
    """Validate a batch of raw inputs and return it in ``raw_dtype``.

    Args:
        values: array-like ``(n, *input_shape)``.
        raw_dtype: the dtype the model takes (``"uint8"``, ``"float32"``, ...).
        input_shape: the shape of one example.
        where: names the inputs in error messages.

    Raises:
        ValueError: wrong shape, a dtype that cannot be converted without changing the
            values (floats for a uint8 model, floats that are not whole numbers for another
            integer model, out-of-range values), NaN/Inf.
    """
    from ddc_tf.data.arrays import check_finite, check_float32_ints, check_float32_range

    values = np.asarray(values)
    shape = tuple(input_shape)
    expected = f"(n, {', '.join(str(d) for d in shape)})"
    if values.shape[1:] != shape:
        if values.shape == shape:
            raise ValueError(
                f"{where}: got one example of shape {values.shape}; the model takes a batch "
                f"{expected} — add the batch axis (e.g. x[None])"
            )
        raise ValueError(f"{where}: expected shape {expected}, got {values.shape}")
    target = np.dtype(raw_dtype)
    kind = values.dtype.kind
    if kind not in "iuf" or values.dtype == np.bool_:
        raise ValueError(f"{where}: dtype {values.dtype} is not numeric; the model takes {target}")
    if target.kind in "iu":
        if kind == "f" and target == np.uint8:
            scaled = values.size and 0 <= values.min() and values.max() <= 1
            raise ValueError(
                f"{where}: the model takes raw {target} inputs (e.g. pixels 0..255) but got "
                f"{values.dtype}" + (f" in [0, 1]; send the raw values, not scaled ones (np.rint(x * 255).astype(np.{target}) "
                                     "if x is pixels divided by 255)" if scaled else
                                     f"; send them as {target} (x.astype(np.{target}) if they are whole numbers 0..255)")
            )
        if kind == "f":  # integer features (counts, codes): whole-number floats are the same values
            check_finite(values, where)
            fractional = np.flatnonzero(np.rint(values) != values)
            if fractional.size:
                raise ValueError(
                    f"{where}: the model was trained on whole-number {target} inputs, but "
                    f"{fractional.size} of these {values.dtype} values are not whole numbers "
                    f"(the first: {values.flat[fractional[0]]:g}); send values in the units it was trained on"
                )
        info = np.iinfo(target)
        # floats compared in float64 against the first value past each end: float(info.max)
        # rounds up to it for int64, and float32 2**31 equals float32(int32's max)
        low, high = (values.min(), values.max()) if values.size else (0, 0)
        if kind == "f":
            outside = float(low) < float(info.min) or float(high) >= float(info.max) + 1
        else:
            outside = low < info.min or high > info.max
        if outside:
            raise ValueError(
                f"{where}: values span [{values.min()}, {values.max()}], outside the "
                f"{target} range [{info.min}, {info.max}]"
            )
        converted = values.astype(target, copy=False)
        check_float32_ints(converted, where)  # the model casts to float32, as training refused
        return converted
    if kind == "f":
        check_finite(values, where)
    with np.errstate(over="ignore"):  # checked below
        converted = values.astype(target, copy=False)
    if target.kind == "f" and target.itemsize < values.dtype.itemsize:
        check_float32_range(values, converted, where)
    return converted


def _scaled_to_raw(x: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    """Model-domain float32 values (``raw · scale``) back to the model's raw inputs."""
    raw = x.astype(np.float64) / spec.scale
    target = np.dtype(spec.raw_dtype)
    if target.kind in "iu":
        rounded = np.rint(raw)
        info = np.iinfo(target)
        off = np.abs(raw - rounded).max() if raw.size else 0.0
        if off > 1e-3 or (raw.size and (rounded.min() < info.min or rounded.max() > info.max)):
            raise ValueError(
                f"{where}: the data's values do not map onto the model's raw {target} inputs "
                f"(x / scale with scale={spec.scale:g} gives values in [{raw.min():g}, {raw.max():g}]"
                f"{'' if off <= 1e-3 else ', not whole numbers'}); the model was trained on data "
                "scaled differently from this data"
            )
        return rounded.astype(target)
    return raw.astype(target)


# --------------------------------------------------------------------------- predictors
class Predictor:
    """A trained clusterer that predicts from raw inputs, batch by batch.

    Attributes:
        path: where it was loaded from.
        kind: ``"saved_model"`` or ``"keras"``.
        input_shape: shape of one example.
        raw_dtype: dtype of the raw inputs (None for a ``.keras`` model of unknown scaling).
        scale: the model sees ``float32(raw) · scale`` (None when unknown).
        n_clusters: k.
        metadata: the export's ``ddc_tf`` metadata, or the ``data.json``, or None.
    """

    kind = "abstract"

    def __init__(
        self,
        path: Path,
        input_shape: tuple[int, ...],
        raw_dtype: str | None,
        scale: float | None,
        n_clusters: int,
        metadata: dict[str, Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        load_options: dict[str, Any] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        #: how the training data was read (``data.json``'s ``load_options``: an image folder's
        #: ``image_size`` and ``color``), applied to image folders given for prediction
        self.load_options = load_options or None
        #: the training table's column names (``data.json``'s ``feature_names``), which a table
        #: given for prediction must have, in that order (:func:`check_feature_names`)
        self.feature_names = tuple(feature_names) if feature_names else None
        self.input_shape = tuple(int(d) for d in input_shape)
        self.raw_dtype = raw_dtype
        self.scale = scale
        self.n_clusters = int(n_clusters)
        self.metadata = metadata
        self.batch_size = positive_int(batch_size, "batch_size")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path='{self.path}', input_shape={self.input_shape}, "
            f"raw_dtype={self.raw_dtype!r}, scale={self.scale}, n_clusters={self.n_clusters})"
        )

    @property
    def spec(self) -> InputSpec:
        """The raw input spec; ValueError if this model's input scaling is unknown."""
        if self.raw_dtype is None or self.scale is None:
            if self.kind == "saved_model":  # its dtype is its signature's: only the scale can be missing
                raise ValueError(
                    f"{self.path}: the input scaling of this SavedModel is unknown (no "
                    "assets.extra/ddc_tf.json metadata, which ddc-tf export writes); give --scale"
                )
            raise ValueError(
                f"{self.path}: the input scaling of this model is unknown (no data.json beside "
                "it); give --scale and --input-dtype, or read the data from a source that "
                "ddc_tf.data loads (.npz, IDX, images, a data set name)"
            )
        return InputSpec(self.input_shape, self.raw_dtype, self.scale)

    # subclasses: one batch of checked inputs → outputs
    def _run_raw(self, raw: np.ndarray, hidden: bool) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _run_scaled(self, x: np.ndarray, hidden: bool, where: str) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _chunks(self, n: int) -> Iterator[slice]:
        for start in range(0, n, self.batch_size):
            yield slice(start, min(n, start + self.batch_size))

    def predict_raw(self, raw: Any, *, hidden: bool = False, where: str = "inputs") -> dict[str, np.ndarray]:
        """Predict raw inputs (what a serving client sends).

        Args:
            raw: ``(n, *input_shape)`` in ``raw_dtype`` (integer arrays are accepted for
                an integer model within its range, any real numbers for a float model).
            hidden: also return the hidden representation.

        Returns:
            ``{"cluster": (n,) int64, "probabilities": (n, k) float32}`` (and
            ``"hidden": (n, hidden_units) float32``).
        """
        spec = self.spec
        raw = check_raw_inputs(raw, spec.raw_dtype, spec.input_shape, where)
        return _concat([self._run_raw(raw[s], hidden) for s in self._chunks(raw.shape[0])], hidden)

    def predict_scaled(self, x: Any, *, hidden: bool = False, where: str = "data") -> dict[str, np.ndarray]:
        """Predict inputs already scaled as in training (``ArrayData.x``)."""
        x = check_raw_inputs(x, "float32", self.input_shape, where)
        return _concat([self._run_scaled(x[s], hidden, where) for s in self._chunks(x.shape[0])], hidden)


def _concat(parts: list[dict[str, np.ndarray]], hidden: bool) -> dict[str, np.ndarray]:
    keys = [OUTPUT_CLUSTER, OUTPUT_PROBABILITIES] + ([OUTPUT_HIDDEN] if hidden else [])
    if not parts:
        raise ValueError("no inputs to predict (0 rows)")
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


class SavedModelPredictor(Predictor):
    """Runs an exported SavedModel's ``serving_default`` and ``embed`` signatures."""

    kind = "saved_model"

    def __init__(self, path: Path, *, scale: float | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        missing = [s for s in (SERVING_SIGNATURE, EMBED_SIGNATURE) if s not in loaded.signatures]
        if SERVING_SIGNATURE in missing:
            raise ValueError(f"{path}: the SavedModel has no '{SERVING_SIGNATURE}' signature")
        serve = loaded.signatures[SERVING_SIGNATURE]
        inputs = serve.structured_input_signature[1]
        if INPUT_KEY not in inputs or OUTPUT_PROBABILITIES not in serve.structured_outputs:
            raise ValueError(
                f"{path}: '{SERVING_SIGNATURE}' takes {sorted(inputs)} and returns "
                f"{sorted(serve.structured_outputs)}; expected input '{INPUT_KEY}' and output "
                f"'{OUTPUT_PROBABILITIES}' (not a ddc_tf export?)"
            )
        x_spec = inputs[INPUT_KEY]
        metadata = read_metadata(path)
        if metadata is not None:
            scale = recorded_unless_contradicted(scale, metadata["input"]["scale"], path, "its export's metadata")
        super().__init__(
            path,
            input_shape=tuple(x_spec.shape[1:]),
            raw_dtype=x_spec.dtype.name,
            scale=scale,
            n_clusters=serve.structured_outputs[OUTPUT_PROBABILITIES].shape[-1],
            metadata=metadata,
            batch_size=batch_size,
            load_options=((metadata or {}).get("data") or {}).get("load_options"),
            feature_names=((metadata or {}).get("data") or {}).get("feature_names"),
        )
        self._loaded = loaded  # keeps the variables alive
        self._serve = serve
        self._embed = loaded.signatures.get(EMBED_SIGNATURE)
        self._tf = tf

    def _run_raw(self, raw: np.ndarray, hidden: bool) -> dict[str, np.ndarray]:
        x = self._tf.constant(raw)
        out = {k: v.numpy() for k, v in self._serve(**{INPUT_KEY: x}).items()}
        if hidden:
            if self._embed is None:
                raise ValueError(f"{self.path}: the SavedModel has no '{EMBED_SIGNATURE}' signature")
            out[OUTPUT_HIDDEN] = self._embed(**{INPUT_KEY: x})[OUTPUT_HIDDEN].numpy()
        return out

    def predict_raw(self, raw: Any, *, hidden: bool = False, where: str = "inputs") -> dict[str, np.ndarray]:
        # The scale is inside the graph: raw inputs need only the signature's dtype.
        raw = check_raw_inputs(raw, self.raw_dtype, self.input_shape, where)
        return _concat([self._run_raw(raw[s], hidden) for s in self._chunks(raw.shape[0])], hidden)

    def _run_scaled(self, x: np.ndarray, hidden: bool, where: str) -> dict[str, np.ndarray]:
        return self._run_raw(_scaled_to_raw(x, self.spec, where), hidden)


class KerasPredictor(Predictor):
    """Runs a ``model.keras`` (DDC, OTClustering or DCAN), scaling raw inputs as in training."""

    kind = "keras"

    def __init__(
        self,
        path: Path,
        *,
        scale: float | None = None,
        input_dtype: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        import tensorflow as tf

        model = run_files.load_model(path)
        described = run_files.read_data_description(path)
        shape = model_input_shape(model) or (tuple(described["input_shape"]) if described else None)
        if shape is None:
            raise ValueError(f"{path}: the model is not built and its input shape is unknown")
        raw_dtype = parse_dtype(input_dtype) if input_dtype else None
        if described is not None:  # the scaling of the model's training data (data.json)
            raw_dtype = recorded_unless_contradicted(raw_dtype, described.get("raw_dtype"), path, "data.json", "input_dtype")
            scale = recorded_unless_contradicted(scale, described.get("scale"), path, "data.json")
        super().__init__(
            path,
            input_shape=shape,
            raw_dtype=raw_dtype,
            scale=scale,
            n_clusters=model.n_clusters,
            metadata=described,
            batch_size=batch_size,
            load_options=(described or {}).get("load_options"),
            feature_names=(described or {}).get("feature_names"),
        )
        self.model = model
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

        @tf.function(input_signature=[spec])
        def probabilities(x):
            return tf.cast(model(x, training=False), tf.float32)

        @tf.function(input_signature=[spec])
        def embed(x):
            return tf.cast(model.embed(x, training=False), tf.float32)

        self._probabilities, self._embedding = probabilities, embed

    def _run_scaled(self, x: np.ndarray, hidden: bool, where: str = "data") -> dict[str, np.ndarray]:
        probabilities = self._probabilities(x).numpy()
        out = {
            OUTPUT_CLUSTER: probabilities.argmax(axis=1).astype(np.int64),
            OUTPUT_PROBABILITIES: probabilities,
        }
        if hidden:
            out[OUTPUT_HIDDEN] = self._embedding(x).numpy()
        return out

    def _run_raw(self, raw: np.ndarray, hidden: bool) -> dict[str, np.ndarray]:
        x = raw.astype(np.float32)
        if self.scale != 1.0:
            x = x * np.float32(self.scale)  # as the exported graph: float32 multiply
        return self._run_scaled(x, hidden)


def load_predictor(
    model: str | os.PathLike | Predictor,
    *,
    scale: float | None = None,
    input_dtype: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Predictor:
    """Load a predictor from a SavedModel folder, a model base path or a ``.keras`` file.

    Args:
        model: ``saved_models/<name>/<version>``, ``saved_models/<name>`` (its highest
            version), a ``.keras`` file, or a folder holding ``model.keras`` (a
            ``ddc-tf fit`` output folder). A ``Predictor`` is returned as it is.
        scale, input_dtype: the raw input scaling, for a ``.keras`` model without a
            ``data.json`` beside it (a SavedModel has its scaling in the graph; ``scale``
            only overrides its metadata for converting ``ddc_tf.data`` sources).
        batch_size: rows per model call.
    """
    if isinstance(model, Predictor):
        return model
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model (give a `ddc-tf fit --out` folder, a .keras file or a SavedModel folder)")
    if path.is_dir():
        unfinished_fit(path)  # a fit folder's model.keras only once its fit has finished
    saved = resolve_saved_model_dir(path) if path.is_dir() else None
    if saved is not None:
        predictor = SavedModelPredictor(saved, scale=scale, batch_size=batch_size)
        if input_dtype is not None and parse_dtype(input_dtype) != predictor.raw_dtype:
            raise ValueError(
                f"{saved}: the SavedModel takes {predictor.raw_dtype} inputs; --input-dtype "
                f"{input_dtype} cannot change that"
            )
        return predictor
    if path.is_dir() and (path / MODEL_FILE).is_file():
        path = path / MODEL_FILE
    if path.is_file() and path.suffix == ".keras":
        return KerasPredictor(path, scale=scale, input_dtype=input_dtype, batch_size=batch_size)
    raise ValueError(
        f"{path}: not a SavedModel (no saved_model.pb, nor integer version folders holding "
        "one) and not a .keras model file"
    )


# --------------------------------------------------------------------------- prediction
def _predict_stream(
    predictor: Predictor, stream: DataStream, hidden: bool
) -> Iterator[dict[str, np.ndarray]]:
    where = stream.name
    check_feature_names(predictor, stream)
    check_scaling(predictor, stream)
    if stream.raw and predictor.kind == "keras":
        predictor.spec  # noqa: B018  (raises the clear error when the scaling is unknown)
    expected = tuple(predictor.input_shape)
    for i, batch in enumerate(stream.batches):
        if len(expected) == 3 and expected[-1] == 1 and tuple(batch.shape[1:]) == expected[:-1]:
            batch = batch[..., None]  # (n, h, w) grayscale images: the channel axis, as training data gets it
        if i == 0 and tuple(batch.shape[1:]) != expected:
            # name the data's shape, not the batch's (the stream reads batch_size rows at a time)
            n = stream.n if stream.n is not None else "n"
            wanted = ", ".join(str(d) for d in expected)
            got = ", ".join(str(d) for d in (n, *batch.shape[1:]))
            raise ValueError(f"{where}: expected shape (n, {wanted}), got ({got})")
        if stream.raw:
            if i == 0:
                warn_if_already_scaled(predictor, batch, where)
            yield predictor.predict_raw(batch, hidden=hidden, where=where)
        else:
            yield predictor.predict_scaled(batch, hidden=hidden, where=where)


def warn_if_already_scaled(predictor: Predictor, batch: np.ndarray, where: str) -> None:
    """A warning when raw float inputs for a model that scales them (``scale`` < 1, e.g. the
    digits' 0..16 by 1/16) all lie in [0, 1]: most likely data scaled already, which the model
    would scale again. (A ``uint8`` model refuses floats outright: ``check_raw_inputs``.)"""
    scale = predictor.scale
    values = np.asarray(batch)
    if scale is None or not scale < 1 or values.dtype.kind != "f" or not values.size:
        return
    if values.min() >= 0 and values.max() <= 1 and values.max() > 0:
        import warnings

        warnings.warn(f"{where}: every value of the first rows lies in [0, 1], but the model multiplies its "
                      f"raw inputs by {scale:g} (its training data's raw values reach about {1 / scale:g}); if "
                      "these are already scaled, send the raw values", stacklevel=3)


def check_scaling(predictor: Predictor, stream: DataStream) -> None:
    """A ValueError when ``stream``'s batches are scaled (read by ``ddc_tf.data``) with another
    ``scale`` than the model's training data: the values would reach the model in other units
    (the digits model divides its 0..16 inputs by 16; an ``.npz`` of those values is read as
    floats used as given; a float table for a model trained on uint8 pixels). Which units the
    values are in cannot be told from the file, so nothing is converted: raw values go in a
    ``.npy`` file (the model scales them as in training). Unknown scaling (a ``.keras`` model
    without ``data.json``) is not checked."""
    model, data = predictor.scale, stream.scale
    if stream.raw or model is None or data is None or same_scale(model, data):
        return

    def units(scale: float) -> str:
        return "used as given (scale 1)" if scale == 1 else f"multiplied by {scale:g} (1/{1 / scale:.4g})"

    dtype = f" ({predictor.raw_dtype})" if predictor.raw_dtype else ""
    held = ("uint8 pixels 0..255" if predictor.raw_dtype == "uint8" else "values before scaling")
    raise ValueError(
        f"{stream.name}: read as training data is read, its values are {units(data)}, but the model's "
        f"training data{dtype} was {units(model)}: the model would see other units than it was trained on. "
        f"Save the raw values its training data held ({held}) in a .npy file and predict that: the model "
        "scales raw inputs itself (in Python, an ArrayData in the model's units: "
        "dataclasses.replace(data, x=..., raw_dtype=..., scale=...))"
    )


def check_feature_names(predictor: Predictor, stream: DataStream) -> None:
    """A ValueError when ``stream``'s columns are named (a table's header) and the model's
    training table's were too, and the names differ — other columns, or the same in another
    order, which the model would read as the wrong features. Unnamed columns are not checked."""
    trained, given = predictor.feature_names, stream.feature_names
    if trained is None or given is None or tuple(given) == tuple(trained):
        return
    from collections import Counter

    if Counter(given) == Counter(trained):
        j = next(j for j, (a, b) in enumerate(zip(given, trained)) if a != b)
        problem = f"has the model's columns in another order (column {j + 1} is {given[j]!r}, not {trained[j]!r})"
    else:  # counted, so that a repeated column name is missing or extra too
        missing = ", ".join(map(repr, (Counter(trained) - Counter(given)).elements())) or "none"
        extra = ", ".join(map(repr, (Counter(given) - Counter(trained)).elements())) or "none"
        problem = f"has other columns than the model's training table (missing: {missing}; not trained on: {extra})"
    raise ValueError(f"{stream.name}: {problem}; the model reads the features by position and was trained on "
                     f"{', '.join(map(repr, trained))}, in that order")


def read_options(predictor: Predictor, data: Any, data_options: dict[str, Any] | None) -> dict[str, Any]:
    """The options ``data`` is read with: those the model's training data was read with
    (``Predictor.load_options``: an image folder's ``image_size`` and ``color``), with each of
    ``data_options`` replacing its value, for a source that takes them (an image folder,
    ``seals``); see ``ddc_tf.data.sources.merge_load_options``."""
    from ddc_tf.data.sources import merge_load_options

    return merge_load_options(data, data_options, predictor.load_options)


def predict(
    model: str | os.PathLike | Predictor,
    data: Any,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    hidden: bool = False,
    scale: float | None = None,
    input_dtype: str | None = None,
    data_options: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Cluster ids and probabilities of ``data`` (see :func:`open_data` for what ``data``
    may be), in memory. ``data_options``: see :func:`read_options`.

    Returns:
        ``{"cluster": (n,) int64, "probabilities": (n, k) float32}`` (and ``"hidden"``).
    """
    predictor = load_predictor(model, scale=scale, input_dtype=input_dtype, batch_size=batch_size)
    stream = open_data(data, batch_size=batch_size, **read_options(predictor, data, data_options))
    return _concat(list(_predict_stream(predictor, stream, hidden)), hidden)


def predict_to_file(
    model: str | os.PathLike | Predictor,
    data: Any,
    out: str | os.PathLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    hidden: bool = False,
    scale: float | None = None,
    input_dtype: str | None = None,
    progress: Callable[[int], None] | None = None,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Predict ``data`` batch by batch and write the results to ``out`` (``data_options``:
    see :func:`read_options`).

    ``.csv``: a header ``index,cluster,p0,…,p{k-1}`` (then ``h0,…`` with ``hidden``), one
    row per example, written as batches finish. ``.npz``: arrays ``cluster`` (n,) int64,
    ``probabilities`` (n, k) float32 (and ``hidden``). Data whose rows have names (an image
    folder: each file's path in the folder) add them, a ``path`` column after ``index`` and
    a ``path`` array. The file appears only when
    complete (written to a temporary name, then renamed).

    Returns:
        ``{"out", "n", "n_clusters", "cluster_sizes", "model", "data"}``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"{out}: unsupported output format {suffix or '(none)'!r}; use one of {OUTPUT_FORMATS}")
    if not out.parent.exists():
        raise FileNotFoundError(f"{out.parent}: output folder does not exist")
    predictor = load_predictor(model, scale=scale, input_dtype=input_dtype, batch_size=batch_size)
    stream = open_data(data, batch_size=batch_size, **read_options(predictor, data, data_options))
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    rows = stream.row_names
    writer = CsvWriter(tmp, predictor.n_clusters, rows) if suffix == ".csv" else NpzWriter(tmp, rows)
    sizes = np.zeros(predictor.n_clusters, dtype=np.int64)
    n = 0
    try:
        for result in _predict_stream(predictor, stream, hidden):
            writer.write(result)
            sizes += np.bincount(result[OUTPUT_CLUSTER], minlength=predictor.n_clusters)
            n += len(result[OUTPUT_CLUSTER])
            if progress is not None:
                progress(n)
        if n == 0:
            raise ValueError(f"{stream.name}: no rows to predict")
        writer.finish()
        os.replace(tmp, out)
    finally:
        writer.discard()
        if tmp.exists():
            tmp.unlink()
    return {
        "out": str(out),
        "n": n,
        "n_clusters": predictor.n_clusters,
        "cluster_sizes": sizes.tolist(),
        "model": str(predictor.path),
        "model_kind": predictor.kind,
        "data": stream.name,
    }
