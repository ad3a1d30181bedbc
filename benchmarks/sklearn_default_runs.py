"""``DDCClustering``'s default number of runs: 10 (``ddc-tf fit``'s protocol: a run picked
without labels, 3 refined runs, distillation) against 1 (one network, the estimator's default
before), on real data: the clusters of ``labels_`` and the wall time.

    python benchmarks/sklearn_default_runs.py --data digits --seeds 0 100 200 300 400

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``, default
``sklearn_default_runs``, after every seed). Each seed fits ``DDCClustering(n_clusters=k,
random_state=seed)`` at every other default, with ``runs=10`` and ``runs=1``; k-means++ (best of
20 inits on the same inputs, ``ddc_tf.baselines``) is the bar. Labels only score.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from sklearn_runs_at_once import summarise
from ddc_tf import data as ddc_data
from ddc_tf import evaluation
from ddc_tf.baselines import kmeans_baseline
from ddc_tf.sklearn import DDCClustering

#: The ``runs`` compared.
RUNS = {"runs_10": 10, "runs_1": 1}


def fit_once(data, runs: int, seed: int) -> dict:
    """One estimator fit at the defaults but ``runs``: wall time and the ACC/NMI of ``labels_``."""
    k = int(np.unique(data.y).size)
    began = time.perf_counter()
    est = DDCClustering(n_clusters=k, runs=runs, random_state=seed).fit(data.x)
    return {"seconds": round(time.perf_counter() - began, 1), **evaluation.cluster_metrics(data.y, est.labels_)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 100, 200, 300, 400])
    parser.add_argument("--name", default="sklearn_default_runs")
    args = parser.parse_args()
    results: dict = {"command": "python benchmarks/sklearn_default_runs.py --data " + " ".join(args.data)
                     + " --seeds " + " ".join(map(str, args.seeds)) + f" --name {args.name}", "data": {}}
    for name in args.data:
        data = ddc_data.load_arrays(name)
        kmeans = kmeans_baseline(data.x, data.y, int(np.unique(data.y).size), seed=0)
        per_way: dict[str, list[dict]] = {way: [] for way in RUNS}
        results["data"][name] = {"n": data.n, "kmeans": {"acc": kmeans["acc"], "nmi": kmeans["nmi"]},
                                 "per_seed": [], "summary": {}}
        for seed in args.seeds:
            row = {"seed": seed}
            for way, runs in RUNS.items():
                row[way] = fit_once(data, runs, seed)
                per_way[way].append(row[way])
                print(name, seed, way, row[way], flush=True)
            results["data"][name]["per_seed"].append(row)
            results["data"][name]["summary"] = {way: summarise(fits) for way, fits in per_way.items()}
            write_results(args.name, results)
    print(f"→ benchmarks/results/{args.name}.json")


if __name__ == "__main__":
    main()
