"""Which unsupervised criterion picks good runs? The loss against its terms, from trained runs.

The protocol reports the run with the lowest total loss. This reads finished protocol
folders (``runs/seed_*/run.json``: each run's loss, terms, cluster sizes, ACC) and, for each
criterion, gives its Spearman correlation with ACC over the runs and the ACC of the run it
would pick. No training. Labels only score the picks: a criterion is worth adopting only if
it picks better runs on several data sets.

Criteria (lower is better): ``loss``, ``l1``, ``l2``, ``l3``, ``l1+l3``, ``l2+l3``, and
``imbalance`` (1 − entropy of the cluster sizes / log k).

    python benchmarks/selection.py --folders outputs/table1/cpu/digits outputs/table1/cpu/fashion_mnist

Writes ``benchmarks/results/selection.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from common import write_results

CRITERIA = {
    "loss": lambda r: r["loss"],
    "l1": lambda r: r["terms"]["l1"],
    "l2": lambda r: r["terms"]["l2"],
    "l3": lambda r: r["terms"]["l3"],
    "l1+l3": lambda r: r["terms"]["l1"] + r["terms"]["l3"],
    "l2+l3": lambda r: r["terms"]["l2"] + r["terms"]["l3"],
    "imbalance": lambda r: 1 - _entropy(r["cluster_sizes"]) / np.log(len(r["cluster_sizes"])),
}


def _entropy(sizes) -> float:
    p = np.asarray(sizes, dtype=float)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", nargs="+", required=True)
    parser.add_argument("--name", default="selection")
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        runs = [json.loads(p.read_text()) for p in sorted(Path(folder, "runs").glob("seed_*/run.json"))]
        accs = np.array([r["acc"] for r in runs])
        row = {"folder": folder, "data": runs[0]["signature"]["data"], "runs": len(runs),
               "acc_mean": float(accs.mean()), "acc_max": float(accs.max()), "criteria": {}}
        for name, score in CRITERIA.items():
            values = np.array([score(r) for r in runs])
            rho = float(spearmanr(values, accs).statistic) if np.ptp(values) > 0 else None
            row["criteria"][name] = {"spearman_with_acc": rho, "picked_acc": float(accs[int(np.argmin(values))])}
        rows.append(row)
        print(f"{row['data']} ({len(runs)} runs, mean ACC {accs.mean():.3f}, max {accs.max():.3f})")
        for name, c in row["criteria"].items():
            rho = "—" if c["spearman_with_acc"] is None else f"{c['spearman_with_acc']:+.2f}"
            print(f"  {name:<10} Spearman {rho:>6}   picks ACC {c['picked_acc']:.3f}")
    write_results(args.name, {"command": "python benchmarks/selection.py " + " ".join(sys.argv[1:]), "rows": rows})


if __name__ == "__main__":
    main()
