"""Would a neighbour vote after training lift a fit's clusters? Each point takes the cluster most
of its k input-space neighbours (and itself) are in, once or repeated — the label-free graph
smoothing that the neighbour term (item 8 of the README) suggests, applied to a finished fit's
chosen run, DDC-ENSEMBLE and saved model (no training; labels only to score).

    python benchmarks/neighbor_smoothing.py --data 20news --folders /tmp/fit20 --name neighbor_smoothing_20news
    python benchmarks/neighbor_smoothing.py --data digits --folders /tmp/fitdigits --name neighbor_smoothing_digits

(run from ``benchmarks/``; the folders are ``ddc-tf fit --data D --out F`` outputs of the same
data; writes ``benchmarks/results/<name>.json``). The neighbours are those training pairs points
with (``ddc_tf.data.neighbors.nearest_neighbors``, metric ``auto``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf import evaluation
from ddc_tf.data.neighbors import nearest_neighbors

#: The partitions of a fit folder that are smoothed: file stem → label in the results.
PARTITIONS = {"best_clusters": "pick", "ensemble_clusters": "DDC-ENSEMBLE", "distilled_clusters": "DDC-DISTILLED"}


def neighbor_vote(clusters: np.ndarray, neighbors: np.ndarray, k: int, rounds: int) -> np.ndarray:
    """``(n,)`` cluster ids after ``rounds`` votes: each point takes the cluster most common among
    itself and its first ``k`` neighbours (``neighbors``: ``(n, ≥ k)`` indices; ties to the
    lowest id)."""
    labels = np.asarray(clusters)
    n, n_clusters = labels.size, int(labels.max()) + 1
    rows = np.repeat(np.arange(n), k + 1)
    for _ in range(rounds):
        voters = np.concatenate([labels[:, None], labels[neighbors[:, :k]]], axis=1).ravel()
        votes = np.zeros((n, n_clusters))
        np.add.at(votes, (rows, voters), 1.0)
        labels = votes.argmax(axis=1)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the data set the folders were fitted on")
    parser.add_argument("--folders", nargs="+", required=True, type=Path, help="ddc-tf fit output folders")
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 20], help="neighbours that vote")
    parser.add_argument("--rounds", nargs="+", type=int, default=[1, 3], help="votes in a row")
    parser.add_argument("--name", default="neighbor_smoothing")
    args = parser.parse_args()
    data = ddc_data.load_arrays(args.data)
    if data.y is None:
        raise SystemExit(f"{args.data} has no labels to score the votes with")
    neighbors = nearest_neighbors(data, max(args.k), n_jobs=-1)
    folders = []
    for folder in args.folders:
        rows = {}
        for stem, label in PARTITIONS.items():
            path = folder / f"{stem}.npy"
            if not path.is_file():
                continue
            clusters = np.load(path)
            if clusters.shape != (data.n,):
                raise SystemExit(f"{path}: {clusters.shape[0]} cluster ids for {data.n} points of {args.data}")
            cells = {"as fitted": evaluation.cluster_metrics(data.y, clusters)}
            for k in args.k:
                for rounds in args.rounds:
                    cells[f"k={k}, {rounds} round(s)"] = evaluation.cluster_metrics(
                        data.y, neighbor_vote(clusters, neighbors, k, rounds))
            rows[label] = {key: {"acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4)} for key, m in cells.items()}
            print(folder, label, "  ".join(f"{key}: {v['acc']:.3f}/{v['nmi']:.3f}" for key, v in rows[label].items()),
                  flush=True)
        folders.append({"folder": str(folder), "partitions": rows})
    path = write_results(args.name, {
        "command": f"python benchmarks/neighbor_smoothing.py --data {args.data} --folders "
                   f"{' '.join(map(str, args.folders))} --k {' '.join(map(str, args.k))} "
                   f"--rounds {' '.join(map(str, args.rounds))} --name {args.name}",
        "data": args.data, "n": data.n, "folders": folders,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
