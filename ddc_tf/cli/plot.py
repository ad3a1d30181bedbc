"""``ddc-tf plot``: the paper's figures for a trained model.

    ddc-tf plot --model PATH [--data SOURCE] --out DIR [--curves CSV] [--n-top 10]
                [--max-points 5000] [--kernel-points 1000] [--seed 0]

Writes every figure that applies to the model and data (see :func:`ddc_tf.viz.figures.write_figures`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddc_tf.cli.common import (AS_TRAINED, add_image_arguments, at_least_two, image_options_for,
                               load_with_options, non_negative_int, out_path, positive_int)

__all__ = ["register"]


def _cmd_plot(args: argparse.Namespace) -> int:
    from ddc_tf.run_files import load_model
    from ddc_tf.viz.figures import write_figures

    if args.curves is not None and not Path(args.curves).is_file():
        raise FileNotFoundError(f"--curves {args.curves}: no such file")
    if args.data is None:
        args.data = recorded_data(args.model)
    out_path(args)  # not inside an image folder it reads: the figures would become a class of it
    model = load_model(args.model)
    arrays = load_with_options(args, image_options_for(args, args.model))
    written = write_figures(
        model, arrays, args.out, curves=args.curves, n_top=args.n_top, max_points=args.max_points,
        kernel_points=args.kernel_points, seed=args.seed,
    )
    for key, path in written.items():
        print(f"{key:<7} {path}")
    return 0


def recorded_data(model: str) -> str:
    """The data set a model was trained on, as its ``data.json`` names it (a data set name, or
    a path that still exists from here), for ``plot`` without ``--data``."""
    from ddc_tf.data.sources import named_loader
    from ddc_tf.run_files import find_model_file, read_data_description

    described = read_data_description(find_model_file(model))
    name = (described or {}).get("name")
    if not name:
        raise ValueError(f"{model}: no data.json names the data it was trained on; give --data")
    if named_loader(name) is None and not Path(name).exists():
        raise ValueError(f"{model}: its data.json names {name!r}, which is not a data set name or a path found "
                         "from here; give --data")
    return name


def register(subparsers: Any) -> None:
    """Add ``plot`` to the ``ddc-tf`` sub-commands."""
    plot = subparsers.add_parser(
        "plot",
        help="the paper's figures (Figs. 3, 4, 6–8, 9a, 10, 11) for a trained model, as PNG",
        description="Write every applicable paper figure for a trained model on its data set.",
    )
    plot.add_argument("--model", required=True, help="model.keras, or a `ddc-tf fit --out` folder")
    plot.add_argument("--data", default=None,
                      help="the data set the model was trained on (name or path; default: the one its data.json names)")
    plot.add_argument("--out", required=True, help="output folder for the PNGs")
    plot.add_argument("--curves", default=None, help="training curves CSV (`fit --log-curves`: OUT/curves/seed_S.csv) for Fig. 9a")
    plot.add_argument("--n-top", type=positive_int, default=10, help="images per cluster in Figs. 6–8 (default 10)")
    plot.add_argument("--max-points", type=positive_int, default=5000, help="predict on at most this many points (default 5000)")
    plot.add_argument("--kernel-points", type=at_least_two, default=1000, help="points in the Fig. 10 kernel matrix (default 1000)")
    plot.add_argument("--seed", type=non_negative_int, default=0, help="seed of the subsets drawn")
    add_image_arguments(plot, reading=AS_TRAINED)
    plot.set_defaults(func=_cmd_plot)
