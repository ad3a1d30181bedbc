"""``ddc-tf demo``: the embedded offline demo (digits and circles, DDC against k-means).

    ddc-tf demo [--out DIR] [--steps N]
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """``ddc-tf demo``: digits and circles, DDC against k-means."""
    from ddc_tf.experiments.demo import run_demo

    run_demo(out_dir=args.out, steps=args.steps)
    return 0


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``ddc-tf`` sub-commands."""
    demo = subparsers.add_parser("demo", help="the embedded offline demo: digits and circles, DDC vs k-means")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--steps", type=int, default=None, help="override the demo's step budgets")
    demo.set_defaults(func=run)
