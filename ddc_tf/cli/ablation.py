"""``ddc-tf ablation``: the paper's Table 2 (every subset of the loss terms).

    ddc-tf ablation --data SOURCE [--repeats 5] [--runs 20] [--out DIR] ...
"""

from __future__ import annotations

import argparse
from typing import Any

from ddc_tf.cli.common import (add_training_arguments, keras_verbosity, out_path, positive_int,
                               resolve_data_and_clusters, writable_out)

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """``ddc-tf ablation``: Table 2 on ``--data``."""
    from ddc_tf.experiments.ablation import ABLATION_FILE, SUBSETS, parse_subset, run_ablation
    from ddc_tf.experiments.tables import table2_markdown, table2_rows
    from ddc_tf.experiments.training import TrainConfig

    runs_given = args.runs is not None or args.preset is not None
    arrays, n_clusters = resolve_data_and_clusters(args)
    if arrays.y is None:
        raise ValueError(f"{args.data} has no labels: the ablation table compares the loss's terms by ACC and "
                         "NMI, which need them")
    if not runs_given:  # one run per repeat unless asked (fit's default of 10 would be 70× that)
        args.runs = 1
    config = TrainConfig(
        n_clusters=n_clusters, backbone=args.backbone, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, rel_sigma=args.rel_sigma, sigma_mode=args.sigma_mode,
        drop_remainder=not args.keep_partial_batches,
    )
    out = writable_out(out_path(args, prefix="ablation-"))
    subsets = [parse_subset(t) for t in args.terms] if args.terms else SUBSETS
    table = run_ablation(
        arrays, config, subsets=subsets, repeats=args.repeats, runs=args.runs,
        seed=args.seed, out_dir=out, verbose=keras_verbosity(args),
    )
    print(table2_markdown(table2_rows([table])))
    print(f"ablation: {out / ABLATION_FILE}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``ablation`` to the ``ddc-tf`` sub-commands."""
    ablation = subparsers.add_parser(
        "ablation",
        help="the paper's Table 2: every subset of the loss terms, mean ± std and max over repeats",
        description="Train every non-empty subset of {l1, l2, l3}; each repeat reports its lowest-loss run.",
    )
    add_training_arguments(
        ablation, out="outputs/ablation-<data>",
        runs_help="runs per repeat; the lowest-loss one counts (paper: 20; default: the preset's, else 1)",
    )
    ablation.add_argument("--repeats", type=positive_int, default=5, help="repeats per subset (paper: 5)")
    ablation.add_argument("--terms", nargs="+", default=None, help="only these subsets, e.g. l1+l3 l3 (default: all seven)")
    ablation.set_defaults(func=run)
