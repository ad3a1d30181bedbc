"""Re-combine finished runs of any protocol folders: consensus pick, DDC-ENSEMBLE and the runs'
mean, for the same seeds in each folder — to compare settings on the same seeds when their
runs were trained by different scripts (no training; labels only to score).

    python benchmarks/combine_runs.py --data fashion_mnist --subset 10000 --seeds 5 \\
        --folders outputs/distill/fashion_mnist outputs/quality/quality_neighbors_fashion/fashion_mnist/nbr10_w0.3 \\
        --name combine_fashion_neighbors

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import stored_labelings, subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf import evaluation, run_files, selection


def combine(folder: Path, seeds: range, y: np.ndarray, n_clusters: int) -> dict:
    labelings = stored_labelings(folder, seeds)
    records = [json.loads((run_files.run_dir(folder, s) / run_files.RUN_FILE).read_text()) for s in seeds]
    chosen = labelings[selection.rank_runs(records, labelings, "consensus")[0]]
    combined = selection.ensemble(labelings, n_clusters, seed=0)

    def scores(clusters: np.ndarray) -> dict:
        return {"acc": evaluation.accuracy(y, clusters), "nmi": evaluation.nmi(y, clusters)}

    return {
        "config": records[0]["signature"]["config"],
        "runs_acc_mean": float(np.mean([r["acc"] for r in records])),
        "runs_nmi_mean": float(np.mean([r["nmi"] for r in records])),
        "empty_clusters": [int(sum(size == 0 for size in r["cluster_sizes"])) for r in records],
        "consensus_pick": scores(chosen),
        "ensemble": scores(combined),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=5, help="runs 0 … N-1 of each folder")
    parser.add_argument("--folders", nargs="+", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    data = subsample(ddc_data.load_arrays(args.data), args.subset)
    rows = {}
    for folder in args.folders:
        rows[folder] = combine(Path(folder), range(args.seeds), data.y, data.n_classes)
        row = rows[folder]
        print(f"{folder}: runs {row['runs_acc_mean']:.3f} / {row['runs_nmi_mean']:.3f}, consensus pick "
              f"{row['consensus_pick']['acc']:.3f} / {row['consensus_pick']['nmi']:.3f}, ensemble "
              f"{row['ensemble']['acc']:.3f} / {row['ensemble']['nmi']:.3f}, empty clusters {row['empty_clusters']}",
              flush=True)
    write_results(args.name, {"command": "python benchmarks/combine_runs.py " + " ".join(sys.argv[1:]),
                              "data": args.data, "subset": args.subset, "seeds": args.seeds, "folders": rows})


if __name__ == "__main__":
    main()
