"""``DDCClustering(runs_at_once=)``: the estimator's runs trained together (its default, as
``ddc-tf fit``) against one by one (what it did before), on real data: wall time and clusters.

    python benchmarks/sklearn_runs_at_once.py --data digits 20news --seeds 0 100 200 300 400

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``, default
``sklearn_runs_at_once``, after every fit, so an interrupted measurement keeps what it did).
Each seed fits ``DDCClustering(n_clusters=k, runs=R, random_state=seed)`` at the estimator's
other defaults (3 000 steps, batch 100, 5 neighbour pairs, 3 refined runs, 300 distillation
steps), once with ``runs_at_once=None`` (4 at a time, at most R) and once with 1, in alternating
order so that a drift of the machine's speed falls on both. TensorFlow's thread pools are left
as the estimator's users get them (no ``ops_side_by_side``). Labels only score.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf import evaluation
from ddc_tf.sklearn import DDCClustering

#: ``runs_at_once`` values compared: the default (``None``) and one by one.
WAYS = {"together": None, "one_by_one": 1}


def fit_once(data, runs: int, steps: int, seed: int, runs_at_once: int | None) -> tuple[dict, np.ndarray]:
    """One estimator fit: its wall time, the ACC/NMI of ``labels_`` (the estimator gets no labels,
    so its runs' own ACC is not known), the chosen run and every run's loss; its labels."""
    k = int(np.unique(data.y).size)
    began = time.perf_counter()
    est = DDCClustering(n_clusters=k, runs=runs, steps=steps, random_state=seed,
                        runs_at_once=runs_at_once).fit(data.x)
    seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 1), **evaluation.cluster_metrics(data.y, est.labels_),
            "chosen_seed": est.results_["best"]["seed"], "chosen_loss": est.loss_,
            "runs_loss": [r["loss"] for r in est.results_["runs"]]}, est.labels_


def summarise(fits: list[dict]) -> dict:
    """Mean ± std over seeds of the fits' ACC, NMI and wall time."""
    out = {"fits": len(fits)}
    for key in ("acc", "nmi", "seconds"):
        values = np.array([f[key] for f in fits], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


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
    for name in args.data:
        data = ddc_data.load_arrays(name)
        per_way: dict[str, list[dict]] = {way: [] for way in WAYS}
        results["data"][name] = {"n": data.n, "per_seed": [], "summary": {}}
        for i, seed in enumerate(args.seeds):
            order = list(WAYS) if i % 2 == 0 else list(reversed(WAYS))
            row, labels = {"seed": seed}, {}
            for way in order:
                row[way], labels[way] = fit_once(data, args.runs, args.steps, seed, WAYS[way])
                per_way[way].append(row[way])
                print(name, seed, way, {k: row[way][k] for k in ("seconds", "acc", "nmi", "chosen_seed")},
                      flush=True)
            row["nmi_between_ways"] = evaluation.nmi(labels["together"], labels["one_by_one"])
            results["data"][name]["per_seed"].append(row)
            results["data"][name]["summary"] = {way: summarise(fits) for way, fits in per_way.items()}
            write_results(args.name, results)
    print(f"→ benchmarks/results/{args.name}.json")


if __name__ == "__main__":
    main()
