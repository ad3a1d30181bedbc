"""Where do DDC's 20news clusters disagree with the four roots? Per newsgroup, the share of its
posts that land in the cluster matched to its own root — for DDC-ENSEMBLE of stored protocols
and for k-means++ — to see which groups keep the 4-root ACC near 70 %.

    python benchmarks/newsgroups_structure.py --folder outputs/distill/20news-nbr5-w1 --protocols 0 2 4 6 8 10

Beside each partition, two label-free scores say which reading of the text the data itself
favours: its modularity on the symmetric 10-nearest-neighbour graph of the TF-IDF rows
(``common.modularity``), and, for the refined runs a folder holds (``refined/from_seeds_<a>-<b>_*/``,
as ``ddc-tf fit`` and ``distill.py --refine-runs`` write them), DDC's own selection loss. Each
partition also names the root whose cluster takes most of sci.crypt's posts (the group whose
placement separates the protocols).

Each protocol's ensemble is recomputed from the stored independent runs of a
``benchmarks/distill.py`` folder as ``run_protocol`` does (``selection.ensemble(..., seed=p)``).
Clusters are matched to roots by the Hungarian algorithm (``evaluation.align_labels``; labels are
used here only to describe the clusters). Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from scipy.stats import spearmanr

from common import GRAPH_NEIGHBORS, modularity, neighbour_graph, stored_ensemble, write_results
from ddc_tf.baselines import kmeans_baseline
from ddc_tf.data.newsgroups import NEWSGROUPS_FILE
from ddc_tf.data.paths import find_data_path
from ddc_tf.data import load_arrays
from ddc_tf import run_files
from ddc_tf.evaluation import align_labels, cluster_metrics

#: The newsgroup whose placement separates the protocols (README, "Beating k-means", item 11).
SWING_GROUP = "sci.crypt"


def per_group(matched: np.ndarray, roots: np.ndarray, groups: np.ndarray, names: np.ndarray) -> dict[str, float]:
    """Share of each newsgroup's posts in the cluster matched to its root (``matched``: the
    clusters renamed to the roots they match, ``align_labels``)."""
    return {str(names[g]): float(np.mean(matched[groups == g] == roots[groups == g])) for g in np.unique(groups)}


def root_taking(group: str, matched: np.ndarray, groups: np.ndarray, names: np.ndarray, root_names) -> str:
    """The root whose matched cluster holds most of ``group``'s posts."""
    members = matched[groups == list(map(str, names)).index(group)]
    return str(root_names[np.bincount(members, minlength=len(root_names)).argmax()])


def refined_runs(folder: str, first: int, runs: int) -> list[Path]:
    """The refined run folders of the protocol whose independent runs are ``first … first + runs − 1``."""
    pattern = f"from_seeds_{first}-{first + runs - 1}_*/{run_files.RUNS_DIR}/seed_*"
    return sorted(Path(folder, "refined").glob(pattern))


def describe(clusters, data, graph, groups, names) -> dict:
    """ACC, NMI, modularity, where the swing group goes and each group's share in its own root."""
    metrics = cluster_metrics(data.y, clusters)
    matched = align_labels(data.y, clusters)
    return {"acc": metrics["acc"], "nmi": metrics["nmi"], "modularity": modularity(graph, clusters),
            f"{SWING_GROUP}_goes_with": root_taking(SWING_GROUP, matched, groups, names, data.class_names),
            "share_in_own_root": per_group(matched, data.y, groups, names)}


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
    graph = neighbour_graph(data)
    partitions = {}
    for first in args.protocols:
        partitions[f"ensemble of seeds {first}-{first + args.runs - 1}"] = stored_ensemble(
            args.folder, first, args.runs, data.n_classes)
    partitions["k-means++ (best of 20)"] = kmeans_baseline(data.x, data.y, data.n_classes, seed=0)["labels"]
    rows = {label: describe(clusters, data, graph, groups, names) for label, clusters in partitions.items()}
    refined = []
    for first in args.protocols:
        for run in refined_runs(args.folder, first, args.runs):
            clusters = np.load(run / run_files.LABELS_FILE, allow_pickle=False)
            row = describe(clusters, data, graph, groups, names)
            del row["share_in_own_root"]
            refined.append({"protocol_first_seed": first, "run": run.name,
                            "loss": json.loads((run / run_files.RUN_FILE).read_text())["loss"], **row})
    group_names = list(next(iter(rows.values()))["share_in_own_root"])
    ensembles = [r for k, r in rows.items() if k.startswith("ensemble")]
    mean = {g: float(np.mean([r["share_in_own_root"][g] for r in ensembles])) for g in group_names}
    print(f"{'newsgroup':28s} ensembles' mean  k-means++")
    for g in group_names:
        print(f"{g:28s} {mean[g]:15.2f}  {rows['k-means++ (best of 20)']['share_in_own_root'][g]:9.2f}")
    swing = f"{SWING_GROUP}_goes_with"
    for label, row in rows.items():
        print(f"{label}: ACC {row['acc']:.3f} NMI {row['nmi']:.3f} modularity {row['modularity']:.4f} "
              f"{SWING_GROUP} with {row[swing]}")
    payload = {"command": "python benchmarks/newsgroups_structure.py " + " ".join(sys.argv[1:]),
               "graph_neighbors": GRAPH_NEIGHBORS, "ensembles_mean_share": mean, "partitions": rows}
    if refined:
        for row in refined:
            print(f"refined run {row['run']} of seeds {row['protocol_first_seed']}-: ACC {row['acc']:.3f} "
                  f"NMI {row['nmi']:.3f} modularity {row['modularity']:.4f} loss {row['loss']:.4f} "
                  f"{SWING_GROUP} with {row[swing]}")
        acc = [r["acc"] for r in refined]
        payload["refined_runs"] = refined
        payload["refined_spearman_with_acc"] = {
            "modularity": float(spearmanr([r["modularity"] for r in refined], acc)[0]),
            "loss": float(spearmanr([r["loss"] for r in refined], acc)[0])}
        by_side = {}
        for row in refined:
            by_side.setdefault(row[swing], []).append(row)
        payload["refined_by_swing_group"] = {
            side: {key: float(np.mean([r[key] for r in group])) for key in ("acc", "nmi", "modularity", "loss")}
            | {"runs": len(group)} for side, group in by_side.items()}
        print(f"refined runs, Spearman with ACC: {payload['refined_spearman_with_acc']}")
        for side, means in payload["refined_by_swing_group"].items():
            print(f"{SWING_GROUP} with {side}: {means}")
    print(write_results(args.name, payload))


if __name__ == "__main__":
    main()
