"""Where do DDC's 20news clusters disagree with the four roots? Per newsgroup, the share of its
posts that land in the cluster matched to its own root — for DDC-ENSEMBLE of stored protocols
and for k-means++ — to see which groups keep the 4-root ACC near 70 %.

    python benchmarks/newsgroups_structure.py --folder outputs/distill/20news-nbr5-w1 --protocols 0 2 4 6 8 10

Each protocol's ensemble is recomputed from the stored independent runs of a
``benchmarks/distill.py`` folder as ``run_protocol`` does (``selection.ensemble(..., seed=p)``).
Clusters are matched to roots by the Hungarian algorithm (``evaluation.align_labels``; labels are
used here only to describe the clusters). Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from common import stored_ensemble, write_results
from ddc_tf.baselines import kmeans_baseline
from ddc_tf.data.newsgroups import NEWSGROUPS_FILE
from ddc_tf.data.paths import find_data_path
from ddc_tf.data import load_arrays
from ddc_tf.evaluation import align_labels, cluster_metrics


def per_group(clusters: np.ndarray, roots: np.ndarray, groups: np.ndarray, names: np.ndarray) -> dict[str, float]:
    """Share of each newsgroup's posts in the cluster matched to its root."""
    matched = align_labels(roots, clusters)
    return {str(names[g]): float(np.mean(matched[groups == g] == roots[groups == g])) for g in np.unique(groups)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="a benchmarks/distill.py 20news run folder")
    parser.add_argument("--protocols", type=int, nargs="+", default=[0], help="first seed of each protocol")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--name", default="newsgroups_structure")
    args = parser.parse_args()
    data = load_arrays("20news")
    found, _ = find_data_path([NEWSGROUPS_FILE])
    raw = np.load(found, allow_pickle=False)
    keep = raw["y_root"] >= 0
    groups, names = raw["y"][keep], raw["groups"]
    assert np.array_equal(raw["y_root"][keep], data.y), "the 4-root task's rows, in order"
    partitions = {}
    for first in args.protocols:
        partitions[f"ensemble of seeds {first}-{first + args.runs - 1}"] = stored_ensemble(
            args.folder, first, args.runs, data.n_classes)
    partitions["k-means++ (best of 20)"] = kmeans_baseline(data.x, data.y, data.n_classes, seed=0)["labels"]
    rows = {}
    for label, clusters in partitions.items():
        metrics = cluster_metrics(data.y, clusters)
        rows[label] = {"acc": metrics["acc"], "nmi": metrics["nmi"],
                       "share_in_own_root": per_group(clusters, data.y, groups, names)}
    group_names = list(next(iter(rows.values()))["share_in_own_root"])
    ensembles = [r for k, r in rows.items() if k.startswith("ensemble")]
    mean = {g: float(np.mean([r["share_in_own_root"][g] for r in ensembles])) for g in group_names}
    print(f"{'newsgroup':28s} ensembles' mean  k-means++")
    for g in group_names:
        print(f"{g:28s} {mean[g]:15.2f}  {rows['k-means++ (best of 20)']['share_in_own_root'][g]:9.2f}")
    for label, row in rows.items():
        print(f"{label}: ACC {row['acc']:.3f} NMI {row['nmi']:.3f}")
    payload = {"command": "python benchmarks/newsgroups_structure.py " + " ".join(sys.argv[1:]),
               "ensembles_mean_share": mean, "partitions": rows}
    print(write_results(args.name, payload))


if __name__ == "__main__":
    main()
