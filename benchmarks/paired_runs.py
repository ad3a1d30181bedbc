"""The same seeds trained two ways: how far apart do their runs end? Nothing is trained.

Two protocol output folders whose runs share seeds (for example the same data trained for
3 000 and for 1 500 steps, ``benchmarks/distill.py --steps … --out …``) are read run by run
(``runs/seed_<s>/run.json``: ACC and NMI against the labels); runs are paired by seed.

    python benchmarks/paired_runs.py --folders /tmp/outputs/distill/20news-nbr5-w1-at4 \
        /tmp/outputs/distill_s1500/20news-nbr5-w1-at4 --labels 3000 1500 --name paired_runs_20news_steps

Writes ``benchmarks/results/<name>.json``: per folder the runs' ACC / NMI mean ± std over the
common seeds, and how many pairs are within ``--tolerance`` ACC of each other, lower or higher
in the second folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common import finished_run_dirs, write_results
from ddc_tf import run_files


def independent_runs(folder: Path) -> dict[int, dict]:
    """``{seed: run.json}`` of a protocol folder's finished independent runs."""
    records = (json.loads((run / run_files.RUN_FILE).read_text()) for run in finished_run_dirs(folder))
    return {int(record["seed"]): record for record in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs=2, type=Path, required=True, metavar=("FIRST", "SECOND"))
    parser.add_argument("--labels", nargs=2, default=["first", "second"], help="names of the two settings")
    parser.add_argument("--tolerance", type=float, default=0.01, help="ACC difference counted as level")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()

    first, second = (independent_runs(folder) for folder in args.folders)
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise SystemExit(f"no seed has a finished run in both {args.folders[0]} and {args.folders[1]}")
    table = {metric: np.array([[runs[s][metric] for s in seeds] for runs in (first, second)])
             for metric in ("acc", "nmi")}
    difference = table["acc"][1] - table["acc"][0]
    payload = {
        "command": "python benchmarks/paired_runs.py " + " ".join(sys.argv[1:]),
        "folders": [str(f) for f in args.folders], "labels": args.labels, "seeds": seeds,
        "settings": {label: {metric: {"mean": float(table[metric][i].mean()), "std": float(table[metric][i].std())}
                             for metric in ("acc", "nmi")}
                     for i, label in enumerate(args.labels)},
        "pairs": {"level": int((np.abs(difference) <= args.tolerance).sum()),
                  "lower": int((difference < -args.tolerance).sum()),
                  "higher": int((difference > args.tolerance).sum()), "tolerance": args.tolerance},
        "runs": [{"seed": s, **{f"{metric}_{label}": float(table[metric][i][j]) for metric in ("acc", "nmi")
                                for i, label in enumerate(args.labels)}} for j, s in enumerate(seeds)],
    }
    write_results(args.name, payload)
    for label, values in payload["settings"].items():
        print(f"{label:>10}: ACC {values['acc']['mean']:.3f} ± {values['acc']['std']:.3f}  "
              f"NMI {values['nmi']['mean']:.3f} ± {values['nmi']['std']:.3f}  ({len(seeds)} runs)")
    pairs = payload["pairs"]
    print(f"{args.labels[1]} against {args.labels[0]}: {pairs['level']} level (±{args.tolerance}), "
          f"{pairs['lower']} lower, {pairs['higher']} higher")


if __name__ == "__main__":
    main()
