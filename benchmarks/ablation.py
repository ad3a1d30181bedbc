"""The paper's Table 2 ablation on the data we have, at a CPU budget.

    python benchmarks/ablation.py --data digits --repeats 3 --runs 3 --steps 1000

Trains every non-empty subset of {l1, l2, l3} (``ddc_tf.experiments.ablation.run_ablation``; the
paper: 5 repeats × 20 runs × 70 000 steps) into ``outputs/ablation/<data>/`` (resumable)
and writes ``benchmarks/results/ablation_<data>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf.experiments.ablation import run_ablation
from ddc_tf.experiments.presets import get_preset
from ddc_tf.experiments.tables import table2_markdown, table2_rows

PRESETS = {"digits": "digits-cpu", "fashion_mnist": "fashion-mnist-cpu", "20news": "20news-cpu",
           "mnist": "mnist-cpu"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", choices=sorted(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--outputs", default="outputs/ablation")
    args = parser.parse_args()

    preset = get_preset(PRESETS[args.data])
    arrays = ddc_data.load_arrays(preset.source)
    config = preset.config(arrays.n_classes, steps=args.steps)
    start = time.perf_counter()
    table = run_ablation(arrays, config, repeats=args.repeats, runs=args.runs,
                         out_dir=Path(args.outputs) / args.data)
    table["budget"] = "cpu"
    print(table2_markdown(table2_rows([table])))
    write_results(f"ablation_{args.data}", {
        "command": "python benchmarks/ablation.py " + " ".join(sys.argv[1:]),
        "preset": preset.to_dict(), "seconds": round(time.perf_counter() - start, 1), "ablation": table,
    })


if __name__ == "__main__":
    main()
