"""``ddc-tf demo``: the embedded offline demo (digits and circles, DDC against k-means).

    ddc-tf demo [--out DIR] [--steps N]
"""

from __future__ import annotations

import argparse
from typing import Any

from ddc_tf.cli.common import positive_int

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """``ddc-tf demo``: digits and circles, DDC against k-means."""
    from ddc_tf.experiments.demo import run_demo
    from ddc_tf.experiments.grouped import ops_side_by_side

    ops_side_by_side()  # the demo trains MLP runs 4 at a time (before TensorFlow's runtime starts)
    out = args.out or ("outputs/demo" if args.steps is None else f"outputs/demo-steps{args.steps}")
    run_demo(out_dir=out, steps=args.steps)
    return 0


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``ddc-tf`` sub-commands."""
    demo = subparsers.add_parser(
        "demo",
        help="the embedded offline demo: digits and circles, DDC vs k-means",
        description=(
            "Train DDC on scikit-learn's digits (10 runs × 1 500 steps) and on circles (3 runs), then "
            "3 refined runs on each, offline, a few minutes on 2 cores; print one line per "
            "run, then ACC/NMI of the chosen run, DDC-VOTE, DDC-ENSEMBLE, DDC-DISTILLED (the saved model) "
            "and k-means++; save models and results under --out."
        ),
    )
    demo.add_argument("--out", default=None, help="output folder (default outputs/demo; with --steps N, "
                      "outputs/demo-stepsN, so that a quick check does not hold the full demo's folder)")
    demo.add_argument("--steps", type=positive_int, default=None, help="train every run this many steps instead, and distil and start refined runs for at most as many (a quick check)")
    demo.set_defaults(func=run)
