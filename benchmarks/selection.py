"""Which label-free selector picks good runs, and how many runs should DDC-VOTE combine?

Reads finished protocol folders (``runs/seed_*/run.json`` and ``clusters.npy``: each run's
loss, terms and cluster ids, written by ``ddc-tf fit`` or ``benchmarks/quality_study.py``)
and, for every selector of ``ddc_tf.selection`` plus a few diagnostic criteria, reports
the ACC of the run it picks, whether that is at or above the runs' median, its Spearman
correlation with ACC over the runs, the ACC of DDC-VOTE over its best 3, 5 and ⌈R/2⌉
runs, and DDC-ENSEMBLE (the consensus clustering of all runs). No training. Labels only
score the picks.

Selectors (``ddc_tf.selection``): ``loss`` (the paper), ``l1`` (the public PyTorch DDC),
``consensus`` (mean NMI with the other runs), ``ensemble`` (NMI with DDC-ENSEMBLE). Diagnostic only: ``l1+l3``, ``l2+l3`` and
``imbalance`` (1 − entropy of the cluster sizes / log k).

    python benchmarks/selection.py --folders outputs/quality/quality_screen/*/* --name selection
    python benchmarks/selection.py --folders outputs/distill/20news-nbr5-w1 --protocols-of 10 --stride 2

``--protocols-of R`` cuts a folder of many runs (``benchmarks/distill.py``'s) into protocols
of R consecutive seeds, as that benchmark did.

Writes ``benchmarks/results/<name>.json`` and prints, per selector, on how many folders
its pick was at or above the median (the rule that chooses the default selector).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from common import finished_run_dirs, subsample, write_results
from ddc_tf import evaluation, run_files, selection


def _entropy(sizes) -> float:
    p = np.asarray(sizes, dtype=float)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum())


#: Diagnostic criteria beside the package's selectors (lower is better).
EXTRA_CRITERIA = {
    "l1+l3": lambda r: r["terms"]["l1"] + r["terms"]["l3"],
    "l2+l3": lambda r: r["terms"]["l2"] + r["terms"]["l3"],
    "imbalance": lambda r: 1 - _entropy(r["cluster_sizes"]) / np.log(len(r["cluster_sizes"])),
}


#: Written beside the runs by ``benchmarks/quality_study.py``: the data's labels, in order.
LABELS_FILE = "labels.npy"


def read_folder(folder: Path) -> tuple[list[dict], list[np.ndarray]]:
    """The run records of one protocol folder and their cluster ids, in seed order."""
    runs = finished_run_dirs(folder)
    records = [json.loads((run / run_files.RUN_FILE).read_text()) for run in runs]
    labelings = [np.load(run / run_files.LABELS_FILE, allow_pickle=False) for run in runs]
    return records, labelings


def evaluate_folder(folder: Path, y: np.ndarray, runs: list[dict], labelings: list[np.ndarray]) -> dict:
    """Every selector on one protocol: ``runs`` and their ``labelings`` (``read_folder``'s, or
    a slice of them) from ``folder``."""
    accs = np.array([r["acc"] for r in runs])
    median = float(np.median(accs))
    row = {"folder": str(folder), "data": runs[0]["signature"]["data"], "runs": len(runs),
           "seeds": [r["seed"] for r in runs],
           "acc_mean": float(accs.mean()), "acc_std": float(accs.std()), "acc_median": median,
           "acc_max": float(accs.max()), "selectors": {}}
    consensus = selection.consensus_scores(labelings)
    combined = selection.ensemble(labelings, len(runs[0]["cluster_sizes"]), seed=0)  # DDC-ENSEMBLE
    orders = {name: selection.rank_runs(runs, labelings, name, consensus=consensus, combined=combined)
              for name in selection.SELECTORS}
    for name, score in EXTRA_CRITERIA.items():
        values = np.array([score(r) for r in runs])
        orders[name] = [int(i) for i in np.lexsort(([r["loss"] for r in runs], values))]
    for name, order in orders.items():
        rank_of = np.empty(len(runs))
        rank_of[order] = np.arange(len(runs))  # 0 = picked first
        rho = float(spearmanr(rank_of, -accs).statistic) if len(runs) >= 3 and np.ptp(accs) > 0 else None
        picked = float(accs[order[0]])
        votes = {}
        for size in sorted({3, 5, math.ceil(len(runs) / 2)}):
            if 2 <= size <= len(runs):
                voted = evaluation.vote([labelings[i] for i in order[:size]])
                votes[str(size)] = evaluation.cluster_metrics(y, voted)
        row["selectors"][name] = {
            "picked_seed": runs[order[0]]["seed"], "picked_acc": picked,
            "picked_nmi": float(runs[order[0]]["nmi"]),
            "at_or_above_median": picked >= median, "spearman_rank_acc": rho, "vote": votes,
        }
    row["consensus"] = consensus.tolist()
    row["ensemble"] = evaluation.cluster_metrics(y, combined)
    return row


def _print_row(row: dict) -> None:
    print(f"{row['folder']} seeds {row['seeds'][0]}–{row['seeds'][-1]} ({row['runs']} runs, ACC mean "
          f"{row['acc_mean']:.3f}, median {row['acc_median']:.3f}, max {row['acc_max']:.3f}); "
          f"ENSEMBLE of all: ACC {row['ensemble']['acc']:.3f} NMI {row['ensemble']['nmi']:.3f}")
    for sel, c in row["selectors"].items():
        rho = "—" if c["spearman_rank_acc"] is None else f"{c['spearman_rank_acc']:+.2f}"
        votes = "  ".join(f"VOTE{k} {v['acc']:.3f}" for k, v in c["vote"].items())
        print(f"  {sel:<10} picks {c['picked_acc']:.3f} {'≥' if c['at_or_above_median'] else '<'} median"
              f"  Spearman {rho:>6}  {votes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs="+", required=True, help="protocol folders (holding runs/seed_*/)")
    parser.add_argument("--protocols-of", type=int, default=None, metavar="R",
                        help="score each folder's runs as protocols of R consecutive runs (seed order) "
                             "instead of one protocol of all (a folder of at most R runs stays one)")
    parser.add_argument("--stride", type=int, default=None,
                        help="with --protocols-of: runs between the first runs of consecutive protocols (default R)")
    parser.add_argument("--name", default="selection")
    args = parser.parse_args()

    from ddc_tf.data import load_arrays

    labels: dict[tuple[str, int], np.ndarray] = {}
    rows = []
    for folder in map(Path, args.folders):
        all_runs, all_labelings = read_folder(folder)
        if not all_runs:
            continue
        signature = all_runs[0]["signature"]
        if (folder / LABELS_FILE).exists():
            y = np.load(folder / LABELS_FILE, allow_pickle=False)
        else:  # a ddc-tf fit folder of a named data set
            name = signature["data"].split("[")[0]  # "fashion_mnist[10000]": common.subsample's seeded subset
            if (name, signature["n"]) not in labels:
                labels[name, signature["n"]] = subsample(load_arrays(name), signature["n"]).y
            y = labels[name, signature["n"]]
        if y is None or y.shape[0] != signature["n"]:
            print(f"{folder}: no labels for its {signature['n']} points; skipped")
            continue
        total = len(all_runs)
        size = min(args.protocols_of or total, total)  # a folder of fewer runs is one protocol
        for first in range(0, total - size + 1, args.stride or size):
            protocol = slice(first, first + size)
            rows.append(evaluate_folder(folder, y, all_runs[protocol], all_labelings[protocol]))
            _print_row(rows[-1])
    tally = {}
    for sel in selection.SELECTORS + tuple(EXTRA_CRITERIA):
        picks = [r["selectors"][sel] for r in rows]
        tally[sel] = {
            "at_or_above_median": int(sum(p["at_or_above_median"] for p in picks)),
            "folders": len(picks),
            "mean_picked_acc": float(np.mean([p["picked_acc"] for p in picks])) if picks else None,
            "mean_picked_nmi": float(np.mean([p["picked_nmi"] for p in picks])) if picks else None,
            "mean_vote3_acc": float(np.mean([p["vote"]["3"]["acc"] for p in picks if "3" in p["vote"]])) if picks else None,
            "mean_vote5_acc": float(np.mean([p["vote"]["5"]["acc"] for p in picks if "5" in p["vote"]])) if picks else None,
            "mean_vote5_nmi": float(np.mean([p["vote"]["5"]["nmi"] for p in picks if "5" in p["vote"]])) if picks else None,
        }
        print(f"{sel:<10} at/above median on {tally[sel]['at_or_above_median']}/{len(picks)} folders; "
              f"mean pick {tally[sel]['mean_picked_acc']:.3f} / {tally[sel]['mean_picked_nmi']:.3f}, "
              f"VOTE3 {tally[sel]['mean_vote3_acc']:.3f}, VOTE5 {tally[sel]['mean_vote5_acc']:.3f} / "
              f"{tally[sel]['mean_vote5_nmi']:.3f}")
    if rows:  # DDC-ENSEMBLE, the consensus clustering (not the selector of that name)
        tally["ddc_ensemble"] = {"mean_acc": float(np.mean([r["ensemble"]["acc"] for r in rows])),
                                 "mean_nmi": float(np.mean([r["ensemble"]["nmi"] for r in rows]))}
        print(f"ENSEMBLE of all runs: mean ACC {tally['ddc_ensemble']['mean_acc']:.3f}, "
              f"NMI {tally['ddc_ensemble']['mean_nmi']:.3f}")
    write_results(args.name, {"command": "python benchmarks/selection.py " + " ".join(sys.argv[1:]),
                              "tally": tally, "rows": rows})


if __name__ == "__main__":
    main()
