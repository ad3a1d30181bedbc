"""Can a label-free statistic tell when the balance term (``--balance-weight 1``) helps?

The balance term wins where the clusters are of similar size and costs where they are not
(README, "Beating k-means", item 12). A switch that turns it on by itself would need a
statistic, computed without labels from the runs of both settings, that points to the better
one. This script computes candidate statistics for stored protocols trained both ways — the
same seeds with and without the term — and counts how often each points to the setting
whose DDC-ENSEMBLE has the higher NMI (and ACC) with the labels:

- ``agreement``: the runs' mean pairwise NMI (what the consensus selector uses);
- ``pooled``: the runs' mean consensus score among all runs of both settings together;
- ``modularity``: the modularity of DDC-ENSEMBLE's partition on the symmetric 10-nearest-
  neighbour graph of the inputs (the neighbour term's own metric) — within-cluster edges minus
  what cluster volumes alone would give, which does not reward merging clusters;
- ``run_modularity``: the same, averaged over the runs;
- ``size_entropy``: the normalised entropy of DDC-ENSEMBLE's cluster sizes (1 = equal sizes).

    python benchmarks/balance_switch.py \\
        --case digits digits outputs/distill/digits-nbr5-w1-at4 outputs/distill/digits-nbr5-w1-bal1-at4 0,10,20,30,40 \\
        --case 20news4 20news outputs/distill/20news-nbr5-w1-at4 outputs/distill/20news-nbr5-w1-bal1-at4 0,2,4,6,8,10 \\
        --case news8_0 W0/news8_0.npz W0/fit_8_0 W1/fit_8_0 0 ...

Each case is ``NAME SOURCE DEFAULT_FOLDER BALANCE_FOLDER FIRSTS``: a data source as ``--data``
takes it, two run folders of ``benchmarks/distill.py`` or ``ddc-tf fit`` (``runs/seed_<s>/``),
and the first seed of each protocol (comma-separated); each protocol's ensemble is recomputed
from its ``--runs`` stored independent runs as ``run_protocol`` does. Labels only score the
two settings, never enter a statistic. Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from common import GRAPH_NEIGHBORS, modularity, neighbour_graph, stored_labelings, write_results
from ddc_tf import selection
from ddc_tf.data import load_arrays
from ddc_tf.evaluation import cluster_metrics

STATISTICS = ("agreement", "pooled", "modularity", "run_modularity", "size_entropy")
def size_entropy(clusters: np.ndarray, k: int) -> float:
    """Entropy of the cluster sizes over log k: 1 when all k clusters are equal, 0 for one cluster."""
    shares = np.bincount(clusters, minlength=k) / clusters.size
    shares = shares[shares > 0]
    return float(-np.sum(shares * np.log(shares)) / np.log(k))


def compare(data, graph, default_runs, balance_runs, first: int) -> dict:
    """Both settings' statistics and scores for one protocol."""
    k = data.n_classes
    pooled = selection.consensus_scores(default_runs + balance_runs)
    rows = {}
    for arm, runs, share in (("default", default_runs, pooled[:len(default_runs)]),
                             ("balance", balance_runs, pooled[len(default_runs):])):
        combined = selection.ensemble(runs, k, seed=first)
        rows[arm] = {
            "agreement": float(np.mean(selection.consensus_scores(runs))),
            "pooled": float(np.mean(share)),
            "modularity": modularity(graph, combined),
            "run_modularity": float(np.mean([modularity(graph, r) for r in runs])),
            "size_entropy": size_entropy(combined, k),
            "ensemble": cluster_metrics(data.y, combined),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs=5, action="append", required=True,
                        metavar=("NAME", "SOURCE", "DEFAULT_FOLDER", "BALANCE_FOLDER", "FIRSTS"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--name", default="balance_switch")
    args = parser.parse_args()
    protocols = []
    for name, source, default_folder, balance_folder, firsts in args.case:
        data = load_arrays(source)
        graph = neighbour_graph(data)
        for first in (int(f) for f in firsts.split(",")):
            seeds = range(first, first + args.runs)
            rows = compare(data, graph, stored_labelings(default_folder, seeds),
                           stored_labelings(balance_folder, seeds), first)
            protocols.append({"case": name, "first_seed": first, **rows})
            print(f"{name} seeds {first}-{first + args.runs - 1}: " + "; ".join(
                f"{arm} NMI {rows[arm]['ensemble']['nmi']:.3f} ACC {rows[arm]['ensemble']['acc']:.3f} "
                + " ".join(f"{s} {rows[arm][s]:.4f}" for s in STATISTICS) for arm in ("default", "balance")), flush=True)
    summary = {}
    for statistic in STATISTICS:
        counts = {}
        for measure in ("nmi", "acc"):
            right = [(p["balance"][statistic] > p["default"][statistic])
                     == (p["balance"]["ensemble"][measure] > p["default"]["ensemble"][measure]) for p in protocols]
            counts[f"points_to_higher_{measure}"] = int(np.sum(right))
        counts["prefers_balance"] = int(sum(p["balance"][statistic] > p["default"][statistic] for p in protocols))
        summary[statistic] = counts
        print(f"{statistic:>15}: prefers the balance term in {counts['prefers_balance']} of {len(protocols)}; "
              f"points to the higher NMI in {counts['points_to_higher_nmi']}, the higher ACC in {counts['points_to_higher_acc']}")
    better = {m: int(sum(p["balance"]["ensemble"][m] > p["default"]["ensemble"][m] for p in protocols)) for m in ("nmi", "acc")}
    print(f"the balance term's ensemble is higher in NMI in {better['nmi']} of {len(protocols)}, in ACC in {better['acc']}")
    path = write_results(args.name, {"command": "python benchmarks/balance_switch.py " + " ".join(
        " ".join(["--case", *c]) for c in args.case) + f" --runs {args.runs} --name {args.name}",
        "graph_neighbors": GRAPH_NEIGHBORS, "protocols": protocols, "summary": summary,
        "balance_higher": better})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
