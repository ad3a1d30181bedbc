"""Can the number of clusters k be chosen without labels? Label-free scores of DDC protocols over a range of k.

``ddc-tf fit`` needs k (``--clusters``; the number of classes when the data has labels). A user
with unlabelled data has to guess it. This benchmark runs, for every k of ``--ks``, what a k scan
would run — a short protocol, in a fresh process:

    ddc-tf fit --data <data> --clusters k --runs R --steps S --refine-runs 0 --distill-steps 0 --kmeans --out <work>/<data>/k<k> --quiet

and scores each k by criteria that need no labels, each higher = "this k fits the data better":

- ``agreement_nmi``: the runs' mean pairwise NMI (stability: runs from other seeds find the same
  clusters; the consensus selector's score, averaged over the runs);
- ``agreement_ari``: the same with the adjusted Rand index (corrected for chance);
- ``modularity``: DDC-ENSEMBLE's modularity on the symmetric 10-nearest-neighbour graph of the
  inputs (``common.modularity``);
- ``silhouette``: DDC-ENSEMBLE's silhouette in the input space (Euclidean; a seeded sample of
  ``--silhouette-sample`` points);
- ``kmeans_silhouette``: k-means++'s (best of 20) silhouette on the same sample — the classic
  recipe, for comparison.

It also records, without using them for any criterion, DDC-ENSEMBLE's ACC / NMI against the labels,
the runs' mean ACC, k-means++'s ACC / NMI, the ensemble's effective number of clusters
(exp of the entropy of its cluster shares) and the smallest cluster's share, and which k each
criterion picks beside the labels' number of classes.

    python benchmarks/choose_k.py --data digits --ks 4 5 6 7 8 9 10 11 12 13 14 16 --work W
    python benchmarks/choose_k.py --data 20news --ks 2 3 4 5 6 7 8 --work W

Writes ``benchmarks/results/<name>.json`` (default ``choose_k_<data>``) after every k; the fit
folders go under ``--work`` (a folder that finished is read back, not refitted).
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from common import fit_once, neighbour_graph, modularity, stored_labelings, write_results

#: The criteria, each higher = better k; the rows' keys.
CRITERIA = ("agreement_nmi", "agreement_ari", "modularity", "silhouette", "kmeans_silhouette")


def mean_pairwise(labelings: list[np.ndarray], score) -> float:
    """Mean of ``score(a, b)`` over the pairs of runs."""
    return float(np.mean([score(a, b) for a, b in combinations(labelings, 2)]))


def effective_clusters(clusters: np.ndarray) -> float:
    """exp(entropy of the cluster shares): k for equal clusters, fewer when some are small."""
    shares = np.bincount(clusters) / clusters.size
    shares = shares[shares > 0]
    return float(np.exp(-np.sum(shares * np.log(shares))))


def score_k(data, graph, sample: np.ndarray, folder: Path, results: dict, k: int) -> dict:
    """Every criterion and description of one k's protocol folder."""
    from ddc_tf import selection
    from ddc_tf.evaluation import accuracy, nmi

    seeds = [run["seed"] for run in results["runs"] if not run["refined"]]
    labelings = stored_labelings(folder, seeds)
    combined = np.load(folder / "ensemble_clusters.npy", allow_pickle=False)
    x = data.x if data.is_sparse else data.x.reshape(data.n, -1)  # images as vectors, as k-means takes them
    x_sample = x[sample]
    kmeans = KMeans(k, init="k-means++", n_init=20, random_state=0).fit(x)
    row = {
        "k": k,
        "agreement_nmi": float(np.mean(selection.consensus_scores(labelings))),  # the consensus selector's, averaged
        "agreement_ari": mean_pairwise(labelings, adjusted_rand_score),
        "modularity": modularity(graph, combined),
        "silhouette": float(silhouette_score(x_sample, combined[sample])),
        "kmeans_silhouette": float(silhouette_score(x_sample, kmeans.labels_[sample])),
        "ensemble_effective_k": effective_clusters(combined),
        "ensemble_smallest_share": float(np.bincount(combined, minlength=k).min() / combined.size),
    }
    if data.y is not None:
        row.update({
            "ensemble_acc": float(accuracy(data.y, combined)), "ensemble_nmi": float(nmi(data.y, combined)),
            "runs_acc_mean": float(np.mean([accuracy(data.y, labels) for labels in labelings])),
            "kmeans_acc": float(accuracy(data.y, kmeans.labels_)), "kmeans_nmi": float(nmi(data.y, kmeans.labels_)),
        })
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a data set name or path, as ddc-tf fit --data")
    parser.add_argument("--ks", type=int, nargs="+", required=True)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--silhouette-sample", type=int, default=4000)
    parser.add_argument("--work", type=Path, required=True, help="folder for the fit folders")
    parser.add_argument("--name", default=None)
    parser.add_argument("extra", nargs="*", help="more ddc-tf fit arguments (after --)")
    args = parser.parse_args()
    from ddc_tf.data import load_arrays

    data = load_arrays(args.data)
    graph = neighbour_graph(data)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(data.n, size=min(args.silhouette_sample, data.n), replace=False))
    name = args.name or f"choose_k_{Path(args.data).stem}"
    extra = ["--runs", str(args.runs), "--steps", str(args.steps), "--refine-runs", "0", "--distill-steps", "0",
             *args.extra]
    rows, commands = [], []
    for k in args.ks:
        folder = args.work / Path(args.data).stem / f"k{k}"
        results, wall, command = fit_once(args.data, folder, ["--clusters", str(k), *extra])
        row = {**score_k(data, graph, sample, folder, results, k), "seconds": round(wall["seconds"], 1)}
        rows.append(row)
        commands.append(command)
        print(" ".join(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
                      for key, value in row.items()), flush=True)
        picks = {c: max(rows, key=lambda r, c=c: r[c])["k"] for c in CRITERIA}
        # a pick at an end of the range tried is where the score stopped being measured, not a maximum
        at_edge = sorted(c for c, k in picks.items() if k in (min(args.ks), max(args.ks)))
        write_results(name, {
            "command": "python benchmarks/choose_k.py " + " ".join(sys.argv[1:]),
            "fits": commands, "classes": data.n_classes if data.y is not None else None,
            "criteria": list(CRITERIA), "picks": picks, "picks_at_an_end_of_the_range": at_edge, "rows": rows,
        })
    print("picks:", picks, "at an end of the range:", at_edge, "classes:", data.n_classes if data.y is not None else None)


if __name__ == "__main__":
    main()
