"""Table 1 rows on the data we have: k-means, k-means on the DDC hidden representation,
DDC (the selector's pick), DDC-VOTE, DDC-ENSEMBLE and the mean ± std over the runs, at a named budget.

    python benchmarks/table1.py --data digits fashion_mnist            # CPU budget (presets *-cpu)
    python benchmarks/table1.py --data fashion_mnist --budget paper    # 20 runs × 70 000 steps

Each data set trains the runs of its preset (``ddc_tf.experiments.presets``: ``digits-cpu``,
``fashion-mnist-cpu``, ``mnist-cpu``, ``20news-cpu``; with ``--budget paper``
``fashion-mnist-paper``, ``mnist-paper``, ``reuters-paper``, and digits at 20 × 70 000)
into ``outputs/table1/<budget>/<data>/`` (resumable: repeating the command skips finished
runs), with the preset's protocol (``Preset.protocol_options``: the ``-paper`` presets pick the
lowest-loss run, vote over 3 and train no refined runs; the others ``ddc-tf fit``'s selector and
3 refined runs; ``--refine-runs`` overrides), and writes ``benchmarks/results/table1_<data>_<budget>.json``: the protocol's
results (with ``"budget"``), the preset and its departures from the paper, and the wall
time. ``python benchmarks/readme_table.py`` turns those files into the README's table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf.experiments.tables import format_results_table
from ddc_tf.experiments.presets import PAPER_RUNS, PAPER_STEPS, get_preset
from ddc_tf.experiments.protocol import run_protocol

#: Which preset each data set uses at each budget.
BUDGETS = {
    "cpu": {"digits": "digits-cpu", "fashion_mnist": "fashion-mnist-cpu", "mnist": "mnist-cpu",
            "20news": "20news-cpu"},
    "paper": {"digits": "digits-cpu", "fashion_mnist": "fashion-mnist-paper", "mnist": "mnist-paper",
              "reuters": "reuters-paper", "20news": "20news-cpu"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits", "fashion_mnist"], help="data sets (see BUDGETS)")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--outputs", default="outputs/table1", help="where the runs are kept (resumable)")
    parser.add_argument("--refine-runs", type=int, default=None,
                        help="refined runs per data set (default: the preset's, else ddc-tf fit's)")
    args = parser.parse_args()

    for source in args.data:
        if source not in BUDGETS[args.budget]:
            raise SystemExit(f"no {args.budget} budget for {source!r}; known: {sorted(BUDGETS[args.budget])}")
        preset = get_preset(BUDGETS[args.budget][source])
        if args.budget == "paper":  # every data set at the paper's 20 runs × 70 000 steps
            preset = dataclasses.replace(preset, name=f"{preset.name}@paper-budget", steps=PAPER_STEPS, runs=PAPER_RUNS)
        arrays = ddc_data.load_arrays(preset.source)
        config = preset.config(arrays.n_classes)
        print(f"\n=== {source}: preset {preset.name}, {preset.runs} runs × {preset.steps} steps ===", flush=True)
        start = time.perf_counter()
        results, _ = run_protocol(
            arrays, config, runs=preset.runs, seed=0, verbose=0,
            out_dir=Path(args.outputs) / args.budget / source, baselines=("kmeans", "kmeans_hidden"),
            **{**preset.protocol_options(config.method),
               **({"refine_runs": args.refine_runs} if args.refine_runs is not None else {})},
        )
        seconds = time.perf_counter() - start
        results["budget"] = args.budget
        print(format_results_table(results, results.get("kmeans")))
        path = write_results(f"table1_{source}_{args.budget}", {
            "command": "python benchmarks/table1.py " + " ".join(sys.argv[1:]),
            "budget": args.budget,
            "preset": preset.to_dict(),
            "seconds": round(seconds, 1),
            "note": "seconds is the wall time of this invocation (finished runs are reloaded, not retrained)",
            "results": results,
        })
        print(f"{source}: {seconds:.0f} s → {path}", flush=True)


if __name__ == "__main__":
    main()
