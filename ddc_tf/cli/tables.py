"""``ddc-tf table`` (the paper's Tables 1–2 from results files) and ``ddc-tf presets``.

    ddc-tf table --results FILE_OR_DIR ... --out DIR
    ddc-tf presets
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _cmd_table(args: argparse.Namespace) -> int:
    from ddc_tf.experiments.tables import write_tables

    for name, path in write_tables(args.results, args.out).items():
        if name.endswith(".md"):
            print(path.read_text())
    print(f"tables written to {args.out}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from ddc_tf.experiments.presets import describe_presets

    print(describe_presets())
    return 0


def register(subparsers: Any) -> None:
    """Add ``table`` and ``presets`` to the ``ddc-tf`` sub-commands."""
    table = subparsers.add_parser(
        "table",
        help="render results JSON as the paper's Table 1 / Table 2 (Markdown and CSV)",
        description="Read results.json / ablation.json files (or folders holding them) and write table1/table2 .md and .csv.",
    )
    table.add_argument("--results", nargs="+", required=True, metavar="FILE_OR_DIR", help="results files or folders (searched recursively)")
    table.add_argument("--out", required=True, help="folder for table1.md, table1.csv, table2.md, table2.csv")
    table.set_defaults(func=_cmd_table)

    presets = subparsers.add_parser(
        "presets",
        help="list the named configurations and where they depart from the paper",
        description=(
            "List every --preset NAME of `ddc-tf fit` / `ddc-tf ablation`: its data, network, "
            "budget and each departure from the paper's settings, with the reason."
        ),
    )
    presets.set_defaults(func=_cmd_presets)
