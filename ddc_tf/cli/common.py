"""What the ``ddc-tf`` sub-commands share: argument types, argument groups, data loading."""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Any

__all__ = [
    "add_training_arguments",
    "positive_int",
    "resolve_data_and_clusters",
    "scale_value",
    "vote_count",
]


def positive_int(text: str) -> int:
    """argparse ``type=``: a whole number ≥ 1, with a message naming what came in."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
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


def add_training_arguments(parser: argparse.ArgumentParser, *, out: str, runs_help: str) -> None:
    """The flags ``fit`` and ``ablation`` share: data, network, budget, bandwidth, output.

    ``None`` defaults are filled in by ``resolve_data_and_clusters`` (from ``--preset``, else
    the built-in defaults of :data:`ddc_tf.experiments.presets.FIT_DEFAULTS`).
    """
    from ddc_tf.losses import DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE, SIGMA_MODES

    add = parser.add_argument
    add("--preset", default=None, help="a named configuration in the paper's terms (see `ddc-tf presets`); explicit flags override it")
    add("--data", default=None, help="a named data set (digits, circles, fashion_mnist, ...) or a path (.npz, IDX folder, image folder)")
    add("--clusters", type=int, default=None, help="number of clusters k (default: the number of classes)")
    add("--steps", type=int, default=None, help="training mini-batches per run (paper: 70000; default 3000)")
    add("--batch-size", type=int, default=None, help="mini-batch size (paper and default: 100)")
    add("--runs", type=int, default=None, help=runs_help)
    add("--seed", type=int, default=0, help="seed of the first run (run r uses seed + r)")
    add("--lr", type=float, default=None, help="Adam learning rate (default 1e-3; the paper uses 1e-5 for the MLP over 70000 steps)")
    add("--backbone", choices=("auto", "conv", "mlp"), default=None, help="network (default auto: conv for images ≥ 16×16, else mlp)")
    add("--sigma-mode", choices=SIGMA_MODES, default=None, help=f"bandwidth convention (default {DEFAULT_SIGMA_MODE}; see README)")
    add("--rel-sigma", type=float, default=None, help=f"relative bandwidth (paper and default: {DEFAULT_REL_SIGMA})")
    add("--out", default=out, help=f"output folder (default {out})")
    add("--quiet", action="store_true", help="no progress bars")


def resolve_data_and_clusters(args: argparse.Namespace) -> tuple[Any, int]:
    """Apply ``--preset`` to ``args`` (an explicit flag beats the preset, which beats the
    built-in default), load ``--data`` and settle the number of clusters k."""
    from ddc_tf import data
    from ddc_tf.experiments import presets

    preset = presets.get_preset(args.preset) if args.preset else None
    for key, value in presets.resolve_fit_options(preset, vars(args)).items():
        setattr(args, key, value)
    if args.data is None:
        raise ValueError("give the data with --data SOURCE, or a --preset NAME")
    arrays = data.load_arrays(args.data, n_clusters=args.clusters)
    n_clusters = args.clusters or arrays.n_classes
    if n_clusters is None:
        raise ValueError(f"{args.data} has no labels; give the number of clusters with --clusters K")
    data.check_n_clusters(arrays, n_clusters)
    return arrays, n_clusters
