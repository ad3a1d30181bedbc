"""``ddc-tf export`` and ``ddc-tf predict``: SavedModels for TF Serving, and batch prediction.

    ddc-tf export --model PATH --name NAME [--version V] [--base-dir outputs/saved_models]
                  [--data SOURCE | --input-dtype DTYPE --scale S]
                  [--image-size H [W]] [--color {rgb,grayscale}] [--skip-unreadable]
    ddc-tf predict --model PATH_OR_SAVEDMODEL --data SOURCE --out FILE.{csv,npz}
                   [--batch-size N] [--hidden] [--input-dtype DTYPE --scale S] [--json]
                   [--image-size H [W]] [--color {rgb,grayscale}] [--skip-unreadable]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ddc_tf.cli.common import (
    AS_TRAINED,
    add_image_arguments,
    check_image_flags,
    explicit_image_options,
    flag_names,
    image_options_for,
    load_with_options,
    positive_int,
    scale_value,
)

__all__ = ["register"]


def _cmd_export(args: argparse.Namespace) -> int:
    from ddc_tf.serving.export import SERVING_SIGNATURE, export_from_path, read_metadata

    path = export_from_path(
        args.model,
        args.name,
        version=args.version,
        base_dir=args.base_dir,
        data=_export_data(args),
        scale=args.scale,
        input_dtype=args.input_dtype,
    )
    meta = read_metadata(path) or {}
    spec = meta.get("input", {})
    print(f"exported {args.model} → {path}")
    for name, sig in meta.get("signatures", {}).items():
        ins = ", ".join(f"{k}: {v['dtype']}{_shape(v['shape'])}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"{k}: {v['dtype']}{_shape(v['shape'])}" for k, v in sig["outputs"].items())
        print(f"  {name}: ({ins}) → {{{outs}}}")
    from_data = f"data {spec.get('data') or 'unknown'}"
    scale_from = "--scale" if args.scale is not None else from_data
    dtype_from = "--input-dtype" if args.input_dtype is not None else from_data
    origin = f"from {scale_from}" if scale_from == dtype_from else f"scale from {scale_from}, dtype from {dtype_from}"
    print(f"  inputs scaled in the graph: float32(x) × {spec.get('scale'):.10g} (raw {spec.get('raw_dtype')}, {origin})")
    print(f"  metadata: {path / 'assets.extra' / 'ddc_tf.json'}")
    print(f"  check: saved_model_cli show --dir {path} --tag_set serve --signature_def {SERVING_SIGNATURE}")
    return 0


def _export_data(args: argparse.Namespace) -> Any:
    """``--data`` for the export: the source itself, or its arrays read with the image options
    (given, or those of the model's training data) when there are any."""
    if args.data is None:
        given = explicit_image_options(args)
        if given is not None:
            raise ValueError(f"{flag_names(given)} set(s) how --data is read; give --data too, or drop it")
        return None
    options = image_options_for(args, args.model)
    return load_with_options(args, options) if options else args.data


def _given_image_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``predict``'s image flags, refused (naming them) for a source that does not take them;
    merged over the model's recorded options by ``ddc_tf.serving.predict.read_options``."""
    given = explicit_image_options(args)
    check_image_flags(args, given or {})
    return given


def _shape(shape: list[Any]) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _cmd_predict(args: argparse.Namespace) -> int:
    from ddc_tf.serving.predict import predict_to_file

    summary = predict_to_file(
        args.model,
        args.data,
        args.out,
        batch_size=args.batch_size,
        hidden=args.hidden,
        scale=args.scale,
        input_dtype=args.input_dtype,
        data_options=_given_image_options(args),
    )
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['n']} rows of {summary['data']} → {summary['out']} ({summary['model_kind']} {summary['model']})")
    print("cluster sizes: " + ", ".join(f"{c}: {s}" for c, s in enumerate(summary["cluster_sizes"])))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``export`` and ``predict`` sub-commands to ``ddc-tf``."""
    from ddc_tf.options import DEFAULT_EXPORT_DIR as DEFAULT_BASE_DIR

    export = subparsers.add_parser(
        "export",
        help="export a trained model as a SavedModel for TF Serving (outputs/saved_models/NAME/VERSION)",
        description=(
            "Write a trained model.keras as a SavedModel in TF Serving's layout, BASE_DIR/NAME/"
            "VERSION, with the signatures serving_default (x → probabilities, cluster) and embed "
            "(x → hidden). x is the raw input (e.g. uint8 pixels): the training scaling is in "
            "the graph. The scaling is read from --input-dtype/--scale, --data, or the data.json "
            "that 'ddc-tf fit' writes beside model.keras."
        ),
    )
    export.add_argument("--model", required=True, help="a .keras model, or a 'ddc-tf fit' output folder")
    export.add_argument("--name", required=True, help="model name (TF Serving's MODEL_NAME), a plain folder name")
    export.add_argument("--version", type=positive_int, default=None, help="integer version (default: the next free one); never overwritten")
    export.add_argument("--base-dir", default=DEFAULT_BASE_DIR, help=f"folder of served models (TF Serving's model base path is BASE_DIR/NAME; default {DEFAULT_BASE_DIR}, which git ignores)")
    export.add_argument("--data", default=None, help="the training data source, to take its raw dtype and scale")
    export.add_argument("--input-dtype", default=None, help="raw input dtype clients send (uint8, float32, ...)")
    export.add_argument("--scale", type=scale_value, default=None, help="the model sees float32(raw) × SCALE (e.g. 1/255)")
    add_image_arguments(export, reading=AS_TRAINED)
    export.set_defaults(func=_cmd_export)

    predict = subparsers.add_parser(
        "predict",
        help="cluster new data with a SavedModel or a model.keras; write .csv or .npz",
        description=(
            "Predict cluster ids and probabilities batch by batch. --data: a .npy of raw inputs "
            "(as the serving signature takes them), or any source 'ddc-tf fit' reads (.npz, .csv, IDX, "
            "image folder, data set name), preprocessed as training data. --out: .csv (index, "
            "cluster, p0..) or .npz (cluster, probabilities); for an image folder also each "
            "row's file (path, relative to the folder)."
        ),
    )
    predict.add_argument("--model", required=True, help="BASE_DIR/NAME[/VERSION] of an export, a .keras model or a 'ddc-tf fit' output folder")
    predict.add_argument("--data", required=True, help="a .npy of raw inputs, or a data source (.npz, .csv/.tsv, IDX, image folder, name)")
    predict.add_argument("--out", required=True, help="output file, .csv or .npz")
    predict.add_argument("--batch-size", type=positive_int, default=256, help="rows per batch (default 256)")
    predict.add_argument("--hidden", action="store_true", help="also write the hidden representation (h0.. / 'hidden')")
    predict.add_argument("--input-dtype", default=None, help="raw dtype of a .keras model's inputs (without data.json; a model that records its own accepts only that)")
    predict.add_argument("--scale", type=scale_value, default=None, help="scale of a .keras model's inputs (without data.json; a model that records its own — data.json, an export — accepts only that)")
    predict.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_image_arguments(predict, reading=AS_TRAINED + " (a SavedModel: as recorded in its export)")
    predict.set_defaults(func=_cmd_predict)
