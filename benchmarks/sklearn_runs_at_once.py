"""``DDCClustering(runs_at_once=)``: the estimator's runs trained together (its default, as
``ddc-tf fit``) against one by one (what it did before), on real data: wall time and clusters.

    python benchmarks/sklearn_runs_at_once.py --data digits 20news --seeds 0 100 200 300 400

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``, default
``sklearn_runs_at_once``, after every seed, so an interrupted measurement keeps what it did).
Each seed fits ``DDCClustering(n_clusters=k, runs=R, random_state=seed)`` at the estimator's
other defaults (3 000 steps, batch 100, 5 neighbour pairs, 3 refined runs, 300 distillation
steps), once with ``runs_at_once=None`` (4 at a time, at most R) and once with 1, in alternating
order so that a drift of the machine's speed falls on both. TensorFlow's thread pools are left
as the estimator's users get them (no ``ops_side_by_side``). Labels only score.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from estimator_ab import compare_ways

#: ``runs_at_once`` values compared: the default (``None``) and one by one.
WAYS = {"together": None, "one_by_one": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 100, 200, 300, 400])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--name", default="sklearn_runs_at_once")
    args = parser.parse_args()
    results: dict = {"command": "python benchmarks/sklearn_runs_at_once.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()),
        "runs": args.runs, "steps": args.steps, "data": {}}
    ways = {way: {"runs": args.runs, "steps": args.steps, "runs_at_once": at_once} for way, at_once in WAYS.items()}
    compare_ways(results, args.name, args.data, args.seeds, ways, alternate=True, agreement=True)


if __name__ == "__main__":
    main()
