"""The MLP's learning rate at a CPU budget: the paper's 1e-5 against 1e-4 and 1e-3.

The paper trains the MLP at 1e-5 for 70 000 iterations. At a budget of a few thousand
steps that rate barely moves the weights; this measures by how much, per data set.

    python benchmarks/mlp_learning_rate.py --data digits 20news --seeds 3 --steps 1500

Writes ``benchmarks/results/mlp_learning_rate.json``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--rates", nargs="+", type=float, default=[1e-5, 1e-4, 1e-3])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    rows = []
    for source in args.data:
        arrays = ddc_data.load_arrays(source)
        for rate in args.rates:
            config = TrainConfig(n_clusters=arrays.n_classes, backbone="mlp", steps=args.steps, learning_rate=rate)
            start = time.perf_counter()
            results, _ = run_protocol(arrays, config, runs=args.seeds, verbose=0)
            rows.append({"data": arrays.name, "learning_rate": rate, "steps": args.steps, "best": results["best"],
                         "summary": results["summary"], "runs": results["runs"],
                         "seconds": round(time.perf_counter() - start, 1)})
            s = results["summary"]
            print(f"{arrays.name:<10} lr={rate:<8g} lowest-loss ACC {results['best']['acc']:.3f}  "
                  f"mean ACC {s['acc_mean']:.3f} ± {s['acc_std']:.3f}", flush=True)
            write_results("mlp_learning_rate", {
                "command": f"python benchmarks/mlp_learning_rate.py --data {' '.join(args.data)} "
                           f"--seeds {args.seeds} --steps {args.steps}", "rows": rows})


if __name__ == "__main__":
    main()
