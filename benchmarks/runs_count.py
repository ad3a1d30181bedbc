"""How many runs R does the protocol need? Re-sampled from runs that are already trained.

Given a protocol output folder with N finished runs (``runs/seed_*/run.json`` and
``clusters.npy``, e.g. from ``benchmarks/table1.py``), this estimates, for every R ≤ N, what
the protocol would report had it trained only R runs: the expected ACC/NMI of the
lowest-loss run (exact, averaged over all R-subsets) and of DDC-VOTE (averaged over up to
``--samples`` random R-subsets). No training; labels are only used to score.

    python benchmarks/runs_count.py --data digits --folder outputs/table1/cpu/digits

Writes ``benchmarks/results/runs_count_<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from math import comb
from pathlib import Path

import numpy as np

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf import evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the data set the runs were trained on (for labels)")
    parser.add_argument("--folder", required=True, help="a protocol output folder (holds runs/seed_*/)")
    parser.add_argument("--samples", type=int, default=200, help="random R-subsets per R for DDC-VOTE")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    y = ddc_data.load_arrays(args.data).y
    runs = []
    for run_dir in sorted(Path(args.folder, "runs").glob("seed_*")):
        if (run_dir / "run.json").exists():
            record = json.loads((run_dir / "run.json").read_text())
            runs.append((record["loss"], record["acc"], record["nmi"],
                         np.load(run_dir / "clusters.npy", allow_pickle=False)))
    runs.sort(key=lambda r: r[0])  # by loss: index i = rank i
    n = len(runs)
    if n < 3:
        raise SystemExit(f"{args.folder}: {n} finished runs; need at least 3")
    accs = np.array([r[1] for r in runs])
    nmis = np.array([r[2] for r in runs])
    rng = np.random.default_rng(0)
    rows = []
    for size in range(1, n + 1):
        # P(run of loss rank i is the lowest in a random size-subset) = C(n-1-i, size-1) / C(n, size)
        weights = np.array([comb(n - 1 - i, size - 1) for i in range(n)], dtype=float) / comb(n, size)
        row = {"runs": size, "best_acc": float(weights @ accs), "best_nmi": float(weights @ nmis),
               "max_acc": float(np.mean([accs[rng.choice(n, size, replace=False)].max() for _ in range(args.samples)]))}
        if size >= 3:
            vote_acc, vote_nmi = [], []
            for _ in range(min(args.samples, comb(n, size))):
                chosen = np.sort(rng.choice(n, size, replace=False))[:3]  # the 3 lowest-loss of the subset
                voted = evaluation.vote([runs[i][3] for i in chosen])
                vote_acc.append(evaluation.accuracy(y, voted))
                vote_nmi.append(evaluation.nmi(y, voted))
            row.update(vote_acc=float(np.mean(vote_acc)), vote_acc_std=float(np.std(vote_acc)),
                       vote_nmi=float(np.mean(vote_nmi)))
        rows.append(row)
        print(f"R={size:>2}  lowest-loss ACC {row['best_acc']:.4f}  " +
              (f"VOTE ACC {row['vote_acc']:.4f}  " if "vote_acc" in row else "") +
              f"(oracle max {row['max_acc']:.4f})", flush=True)
    loss = np.array([r[0] for r in runs])
    from scipy.stats import spearmanr
    write_results(args.name or f"runs_count_{args.data}", {
        "command": "python benchmarks/runs_count.py " + " ".join(sys.argv[1:]),
        "folder": args.folder, "n_runs": n,
        "loss_acc_spearman": float(spearmanr(loss, accs).statistic),
        "acc_mean": float(accs.mean()), "acc_std": float(accs.std()),
        "rows": rows,
    })


if __name__ == "__main__":
    main()
