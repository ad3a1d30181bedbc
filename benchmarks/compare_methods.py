"""DDC vs optimal-transport clustering vs DCAN vs k-means, at an equal step budget.

Every deep method trains through the same protocol (``ddc_tf.experiments.protocol.run_protocol``):
the same backbone, batch size, learning rate, number of steps and seeds; each run is
scored by *its own* unsupervised loss, the lowest-loss run is reported, and with three or
more runs the vote over the best three. k-means++ (best of 20 restarts) runs on the raw
inputs. Per method the script also records the mean ± std of ACC over the runs and the
training time per step (the methods' steps do not cost the same).

    python benchmarks/compare_methods.py --data digits fashion_mnist --seeds 3 --steps 1500

Writes ``benchmarks/results/compare_methods.json`` (rewritten after every method, so an
interrupted run keeps what it finished).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from common import subsample, write_results
from ddc_tf import baselines
from ddc_tf import data as ddc_data
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig

#: (backbone, learning rate) per data set, shared by every method: the paper's CNN for
#: 28×28 images, the MLP for vectors, Adam at 1e-3 for both (the budgets are short).
SETTINGS = {"digits": ("mlp", 1e-3), "fashion_mnist": ("conv", 1e-3), "mnist": ("conv", 1e-3), "circles": ("mlp", 1e-3)}
METHODS = ("ddc", "ot", "dcan")


def run_method(arrays, method: str, backbone: str, lr: float, steps: int, seeds: int,
               pretrain_steps: int | None = None) -> dict:
    config = TrainConfig(
        n_clusters=arrays.n_classes, backbone=backbone, steps=steps, learning_rate=lr, method=method,
        pretrain_steps=pretrain_steps if method != "ddc" else None,
    )
    start = time.perf_counter()
    results, _ = run_protocol(arrays, config, runs=seeds, verbose=0)
    seconds = time.perf_counter() - start
    accs = np.array([r["acc"] for r in results["runs"]])
    nmis = np.array([r["nmi"] for r in results["runs"]])
    return {
        "method": method,
        "config": config.to_dict(),
        "best": results["best"],
        "vote": results["vote"],
        "acc_mean": float(accs.mean()),
        "acc_std": float(accs.std()),
        "nmi_mean": float(nmis.mean()),
        "runs": results["runs"],
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / (seeds * steps), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits", "fashion_mnist"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3, help="runs per method (seeds 0..R-1)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps per run, every method")
    parser.add_argument("--subset", type=int, default=None, help="random subset size per data set")
    parser.add_argument("--name", default="compare_methods")
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help="OT/DCAN: start from a DDC-trained backbone of this many steps")
    args = parser.parse_args()
    command = "python benchmarks/compare_methods.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items() if v is not None
    )

    rows: list[dict] = []
    for source in args.data:
        arrays = subsample(ddc_data.load_arrays(source), args.subset)
        backbone, lr = SETTINGS.get(source, ("auto", None))
        start = time.perf_counter()
        x = arrays.x.reshape(arrays.n, -1) if not arrays.is_sparse else arrays.x
        km = baselines.kmeans_baseline(x, arrays.y, arrays.n_classes, seed=0)
        rows.append({
            "data": arrays.name, "n": arrays.n, "method": "kmeans",
            "acc": km["acc"], "nmi": km["nmi"], "seconds": round(time.perf_counter() - start, 1),
        })
        print(f"{arrays.name:<22}{'kmeans':<8} ACC {km['acc']:.3f}  NMI {km['nmi']:.3f}", flush=True)
        write_results(args.name, {"command": command, "steps": args.steps, "seeds": args.seeds, "rows": rows})
        for method in args.methods:
            row = {"data": arrays.name, "n": arrays.n, "backbone": backbone, "learning_rate": lr, "steps": args.steps,
                   **run_method(arrays, method, backbone, lr, args.steps, args.seeds, args.pretrain_steps)}
            rows.append(row)
            vote = row["vote"]
            print(
                f"{arrays.name:<22}{method:<8} chosen ACC {row['best']['acc']:.3f} NMI {row['best']['nmi']:.3f}"
                f"  mean ACC {row['acc_mean']:.3f} ± {row['acc_std']:.3f}"
                + (f"  vote ACC {vote['acc']:.3f}" if vote else "")
                + f"  ({row['seconds_per_step'] * 1000:.0f} ms/step)",
                flush=True,
            )
            write_results(args.name, {"command": command, "steps": args.steps, "seeds": args.seeds, "rows": rows})


if __name__ == "__main__":
    main()
