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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from estimator_ab import compare_ways

#: The ``runs`` compared.
RUNS = {"runs_10": 10, "runs_1": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 100, 200, 300, 400])
    parser.add_argument("--name", default="sklearn_default_runs")
    args = parser.parse_args()
    results: dict = {"command": "python benchmarks/sklearn_default_runs.py --data " + " ".join(args.data)
                     + " --seeds " + " ".join(map(str, args.seeds)) + f" --name {args.name}", "data": {}}
    compare_ways(results, args.name, args.data, args.seeds, {way: {"runs": runs} for way, runs in RUNS.items()},
                 kmeans=True)


if __name__ == "__main__":
    main()
