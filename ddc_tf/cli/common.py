"""What the ``ddc-tf`` sub-commands share: argument types, argument groups, data loading."""

from __future__ import annotations

import argparse
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = [
    "AS_TRAINED",
    "DEFAULT_OUT_ROOT",
    "add_image_arguments",
    "apply_preset",
    "add_training_arguments",
    "at_least_two",
    "default_out",
    "writable_out",
    "explicit_image_options",
    "flag_names",
    "check_image_flags",
    "image_options_for",
    "keras_verbosity",
    "label_option",
    "load_with_options",
    "positive_int",
    "resolve_data_and_clusters",
    "scale_value",
    "vote_count",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
]


def _int_at_least(text: str, minimum: int) -> int:
    """``text`` as an int ≥ ``minimum``, or an argparse error naming what came in."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be ≥ {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type=``: a whole number ≥ 1, with a message naming what came in."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse ``type=``: a whole number ≥ 0, with a message naming what came in."""
    return _int_at_least(text, 0)


def at_least_two(text: str) -> int:
    """argparse ``type=`` of ``--clusters``, ``--batch-size`` and ``plot --kernel-points``: a
    whole number ≥ 2 (clusters to tell apart; points to form the kernel's pairs)."""
    return _int_at_least(text, 2)


def _number(text: str) -> float:
    """``text`` as a finite float, or an argparse error naming what came in."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse ``type=``: a finite number > 0 (a rate, a bandwidth, a norm)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse ``type=``: a finite number ≥ 0 (a loss term's weight; 0 switches it off)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text!r}")
    return value


def vote_count(text: str) -> int:
    """argparse ``type=`` of ``--vote-runs``: a whole number ≥ 2 (a vote needs two runs)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a vote needs at least 2 runs, got {value}")
    return value


def scale_value(text: str) -> float:
    """argparse ``type=`` of ``--scale``: a positive number, also as a fraction (``1/255``)."""
    try:
        value = float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"scale must be a positive number, got {text!r}")
    return value


#: Where ``fit`` and ``ablation`` write when ``--out`` is not given: ``outputs/<data>[-<method>]``.
DEFAULT_OUT_ROOT = "outputs"


def writable_out(out: Path) -> Path:
    """``out``, created if missing, or an OSError naming ``--out`` when it cannot be created or
    written — before training, not after its first chunk."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"--out {out}: cannot create the folder ({error.strerror or error})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OSError(f"--out {out}: the folder is not writable")
    return out


def check_data_path(data: str) -> None:
    """A FileNotFoundError for a ``--data`` that is written as a path (with a folder separator or
    a file ending) and does not exist — before TensorFlow loads. Data set names (``digits``) are
    resolved, and refused when unknown, when the data are loaded."""
    from ddc_tf.checks import written_as_path

    if written_as_path(data) and not Path(data).exists():
        raise FileNotFoundError(f"{data}: no such file or folder")


def _holds_images(folder: Path) -> bool:
    """Whether ``folder``, or one of its sub-folders, holds a file with an image ending: a folder
    the image reader would read (stops at the first one found)."""
    from ddc_tf.options import IMAGE_EXTENSIONS

    def images_in(path: Path) -> bool:
        with os.scandir(path) as entries:
            return any(entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file() for entry in entries)

    if images_in(folder):
        return True
    with os.scandir(folder) as entries:
        return any(entry.is_dir() and not entry.name.startswith(".") and images_in(Path(entry.path))
                   for entry in entries)


def out_path(args: argparse.Namespace, *, method: str = "ddc", prefix: str = "") -> Path:
    """``--out``, or :func:`default_out`; a ValueError when it lies inside a ``--data`` folder of
    images (the next reading would take the outputs for a class, or for stray files)."""
    out = Path(args.out) if args.out else default_out(args.data, method=method, prefix=prefix)
    data = Path(args.data)
    if (data.is_dir() and Path(os.path.realpath(out)).is_relative_to(os.path.realpath(data))
            and _holds_images(data)):
        given = f"--out {out}" if args.out else f"the default --out, {out},"
        raise ValueError(f"{given} is inside the data folder {args.data}, whose next reading would take the "
                         f"outputs for images; run from outside it, or give an --out elsewhere")
    return out


def default_out(data: str, *, method: str = "ddc", prefix: str = "") -> Path:
    """``outputs/<name>`` for ``--data``: a data set's name, or a path's file or folder name
    (without ``.gz`` and a data file's suffix; ``.`` and ``..`` name the folder they mean);
    ``-<method>`` for a sibling method and ``prefix`` (``"ablation-"``) added."""
    name = Path(os.path.abspath(str(data))).name or "data"
    stem = name[:-3] if name.lower().endswith(".gz") else name
    stem = Path(stem).stem if Path(stem).suffix.lower() in (".npz", ".npy", ".csv", ".tsv") else stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "data"
    suffix = "" if method == "ddc" else f"-{method}"
    return Path(DEFAULT_OUT_ROOT) / f"{prefix}{stem}{suffix}"


def keras_verbosity(args: argparse.Namespace) -> int | str:
    """``fit``'s verbosity for the runs: none with ``--quiet``; a progress bar per run on a
    terminal (Keras' ``"auto"``); one plain line per chunk when the output goes to a file or
    a pipe (Keras' 2: no bar redrawn with control characters)."""
    import sys

    if args.quiet:
        return 0
    return "auto" if sys.stdout.isatty() else 2


def add_image_arguments(parser: argparse.ArgumentParser, *, reading: str = "") -> None:
    """``--image-size``, ``--color`` and ``--skip-unreadable``, how an image folder is read
    (``fit``, ``ablation``; and ``predict``, ``plot``, ``export`` with ``reading`` saying what the
    first two default to; unreadable images are skipped only when the command is told to)."""
    parser.add_argument("--image-size", type=positive_int, nargs="+", default=None, metavar=("H", "W"),
                        help="image folders: resize every image to H×W (one number: H×H); needed when sizes "
                             f"differ{reading}")
    parser.add_argument("--color", choices=("rgb", "grayscale"), default=None,
                        help=f"image folders: convert every image to RGB or grayscale (default: grayscale only "
                             f"if all are{reading})")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="image folders: drop images that fail to decode (a warning gives the count) "
                             "instead of stopping")


#: ``reading`` of :func:`add_image_arguments` for the commands that take a trained model.
AS_TRAINED = "; default for a model with a data.json beside it: as its training images were read"


def explicit_image_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``{"image_size": …, "color": …, "skip_unreadable": True}`` from the flags that were
    given, None when none was."""
    options: dict[str, Any] = {}
    if args.image_size is not None:
        if len(args.image_size) > 2:
            raise ValueError(f"--image-size takes H or H W, got {len(args.image_size)} numbers")
        options["image_size"] = tuple(args.image_size) if len(args.image_size) == 2 else args.image_size[0]
    if args.color is not None:
        options["color"] = args.color
    if getattr(args, "skip_unreadable", False):
        options["skip_unreadable"] = True
    return options or None


def flag_names(options: dict[str, Any]) -> str:
    """The command-line flags of loader ``options``: ``"--image-size and --color"``."""
    return " and ".join(f"--{key.replace('_', '-')}" for key in options)


def check_image_flags(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """A ValueError naming the flags when ``--data`` does not take the image ``options`` given."""
    from ddc_tf.data.sources import takes_options

    if options and not takes_options(args.data, options):
        raise ValueError(f"{flag_names(options)}: only for image folders; {args.data} does not take them")


def image_options_for(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """How ``predict``/``plot``/``export`` read ``--data``: as the training data of the
    ``.keras`` model ``model`` names was read (``data.json``'s ``load_options``), each image
    flag given replacing its value, for a source that takes them (an image folder, ``seals``)."""
    from ddc_tf.data.sources import merge_load_options
    from ddc_tf.run_files import find_model_file, read_data_description

    given = explicit_image_options(args) or {}
    check_image_flags(args, given)
    recorded = (read_data_description(find_model_file(model)) or {}).get("load_options")
    return merge_load_options(args.data, given, recorded)


def load_with_options(args: argparse.Namespace, options: dict[str, Any], labels: dict[str, str] | None = None) -> Any:
    """``load_arrays(args.data, **options, **labels)``, image ``options`` that ``--data`` does not
    take refused first with a ValueError naming the flags; ``labels``: :func:`label_option`'s."""
    from ddc_tf import data

    check_image_flags(args, options)
    return data.load_arrays(args.data, n_clusters=getattr(args, "clusters", None), **options, **(labels or {}))


def label_option(args: argparse.Namespace) -> dict[str, str]:
    """``--labels NAME`` as the loader's option: a table's ``label_column``, an ``.npz``'s
    ``label_key``; ``{}`` without the flag. A ValueError for any other ``--data``."""
    from ddc_tf.data.table import is_table_file

    if getattr(args, "labels", None) is None:
        return {}
    if is_table_file(args.data):
        return {"label_column": args.labels}
    if str(args.data).lower().endswith(".npz"):
        return {"label_key": args.labels}
    raise ValueError(f"--labels names the labels' column of a .csv/.tsv table or their key in an .npz; "
                     f"{args.data} is neither")


def add_training_arguments(parser: argparse.ArgumentParser, *, out: str, runs_help: str) -> None:
    """The flags ``fit`` and ``ablation`` share: data, network, budget, bandwidth, output.

    ``None`` defaults are filled in by ``resolve_data_and_clusters`` (from ``--preset``, else
    the built-in defaults of :data:`ddc_tf.experiments.presets.FIT_DEFAULTS`).
    """
    from ddc_tf.options import BACKBONE_CHOICES, DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE, SIGMA_MODES

    add = parser.add_argument
    add("--preset", default=None, help="a named configuration in the paper's terms (see `ddc-tf presets`); explicit flags override it")
    add("--data", default=None, help="a named data set (digits, circles, fashion_mnist, ...) or a path (.npz, .npy without labels, .csv/.tsv with labels in a column y, label, labels, class or target or the one --labels names, IDX folder, image folder)")
    add("--labels", default=None, metavar="NAME",
        help="the labels' column of a .csv/.tsv table, or their key in an .npz (default: a column y, label, labels, "
             "class or target; the key y); labels only score the clusters, and a table's label column is no feature")
    add("--clusters", type=at_least_two, default=None, help="number of clusters k (default: the number of classes)")
    add("--steps", type=positive_int, default=None, help="training mini-batches per run (paper: 70000; default 3000)")
    add("--batch-size", type=at_least_two, default=None, help="mini-batch size (paper and default: 100)")
    add("--runs", type=positive_int, default=None, help=runs_help)
    add("--seed", type=non_negative_int, default=0, help="seed of the first run (run r uses seed + r)")
    add("--lr", type=positive_float, default=None, help="Adam learning rate (default 1e-3; the paper uses 1e-5 for the MLP over 70000 steps)")
    add("--backbone", choices=BACKBONE_CHOICES, default=None, help="network (default auto: conv for images ≥ 16×16, else mlp)")
    add("--sigma-mode", choices=SIGMA_MODES, default=None, help=f"DDC's bandwidth convention (default {DEFAULT_SIGMA_MODE}; see README; --method ot/dcan: of the DDC pre-training)")
    add("--rel-sigma", type=positive_float, default=None, help=f"DDC's relative bandwidth (paper and default: {DEFAULT_REL_SIGMA}; --method ot/dcan: of the DDC pre-training)")
    add_image_arguments(parser)
    add("--keep-partial-batches", action="store_true",
        help="train on the last, smaller batch of each pass too (default: dropped, every batch has --batch-size points)")
    add("--out", default=None, help=f"output folder (default {out})")
    add("--quiet", action="store_true", help="no progress bars and no per-run lines")


def apply_preset(args: argparse.Namespace) -> None:
    """Fill in ``args`` from ``--preset`` (an explicit flag beats the preset, which beats the
    built-in default); again on filled-in ``args`` it changes nothing. TensorFlow is not loaded."""
    from ddc_tf.experiments import presets

    preset = presets.get_preset(args.preset) if args.preset else None
    for key, value in presets.resolve_fit_options(preset, vars(args)).items():
        setattr(args, key, value)


def resolve_data_and_clusters(args: argparse.Namespace) -> tuple[Any, int]:
    """Apply ``--preset`` to ``args`` (:func:`apply_preset`), load ``--data`` and settle the
    number of clusters k."""
    from ddc_tf import data

    apply_preset(args)
    if args.data is None:
        raise ValueError("give the data with --data SOURCE, or a --preset NAME")
    arrays = load_with_options(args, explicit_image_options(args) or {}, label_option(args))
    if getattr(args, "labels", None) is not None and arrays.y is None:  # an .npz's y is optional unless asked for
        raise ValueError(f"--labels {args.labels}: {args.data} holds no labels under that name")
    n_clusters = args.clusters or arrays.n_classes
    if n_clusters is None:
        raise ValueError(f"{args.data} has no labels; give the number of clusters with --clusters K")
    if not args.clusters and n_clusters < 2:  # k from the labels, which cannot give it
        raise ValueError(f"the labels of {args.data} hold one class, so they do not give the number of clusters; "
                         "give it with --clusters K")
    data.check_n_clusters(arrays, n_clusters)
    return arrays, n_clusters
