"""``DDCClustering(thread_pools="runs")`` against TensorFlow's own thread pools (the default): the
wall time of a default fit (10 runs, 4 at a time, MLP) and its clusters, on real data.

    python benchmarks/sklearn_thread_pools.py --data digits --seeds 0 100 200

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``, default
``sklearn_thread_pools``, after every fit). The thread pools belong to a process and are fixed
once TensorFlow's runtime starts, so every fit runs in a fresh Python process, as a user's
script would; the two ways alternate in order from seed to seed, so that a drift of the
machine's speed falls on both. Labels only score. Each record says whether the pools were
one thread per op during the fit (``intra_op_threads``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The ways compared: ``DDCClustering(thread_pools=...)``.
WAYS = ("tensorflow", "runs")


def child(data_name: str, seed: int, thread_pools: str) -> None:
    """One default fit in this (fresh) process; prints its record as the last line of JSON."""
    import tensorflow as tf

    from ddc_tf import data as ddc_data
    from estimator_ab import fit_estimator

    data = ddc_data.load_arrays(data_name)
    record, _ = fit_estimator(data, seed, thread_pools=thread_pools)
    record["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    print(json.dumps(record))


def fit_in_a_fresh_process(data_name: str, seed: int, thread_pools: str) -> dict:
    """Run :func:`child` in a new interpreter (the user's thread-pool variables removed)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    done = subprocess.run([sys.executable, __file__, "--child", data_name, str(seed), thread_pools],
                          env=environment, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the fit of {data_name}, seed {seed}, thread_pools={thread_pools} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 100, 200])
    parser.add_argument("--name", default="sklearn_thread_pools")
    parser.add_argument("--child", nargs=3, metavar=("DATA", "SEED", "THREAD_POOLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    from common import write_results
    from estimator_ab import summarise

    results: dict = {"command": "python benchmarks/sklearn_thread_pools.py --data " + " ".join(args.data)
                     + " --seeds " + " ".join(map(str, args.seeds)) + f" --name {args.name}", "data": {}}
    for data_name in args.data:
        entry: dict = {"per_seed": [], "summary": {}}
        results["data"][data_name] = entry
        per_way: dict[str, list[dict]] = {way: [] for way in WAYS}
        for i, seed in enumerate(args.seeds):
            row: dict = {"seed": seed}
            for way in (reversed(WAYS) if i % 2 else WAYS):
                row[way] = fit_in_a_fresh_process(data_name, seed, way)
                per_way[way].append(row[way])
                print(data_name, seed, way, {k: v for k, v in row[way].items() if k != "runs_loss"}, flush=True)
            row["same_runs"] = row["runs"]["runs_loss"] == row["tensorflow"]["runs_loss"]  # every run's loss
            entry["per_seed"].append(row)
            entry["summary"] = {way: summarise(fits) for way, fits in per_way.items()}
            write_results(args.name, results)
    print(f"→ benchmarks/results/{args.name}.json")


if __name__ == "__main__":
    main()
