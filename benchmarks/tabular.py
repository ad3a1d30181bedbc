"""Small tabular data sets a new user would try first: ``ddc-tf fit`` at its defaults against
k-means++ on scikit-learn's iris (150 × 4), wine (178 × 13) and breast cancer (569 × 30).

    python benchmarks/tabular.py --work /tmp/tabular
    python benchmarks/tabular.py --work /tmp/tabular --name tabular_neighbors0 -- --neighbors 0

Each data set is standardised per feature (``sklearn.preprocessing.StandardScaler``, as a k-means
user would), written to ``WORK/<name>.npz`` with its classes as ``y`` and given to
``ddc-tf fit --data WORK/<name>.npz --kmeans`` (the MLP, neighbour pairs, 10 runs × 3 000 steps,
3 refined runs, consensus pick, distilled saved model; k-means++ best of 20 on the same
standardised rows); flags after ``--`` go to every fit (its folder is named by them). A fit
folder that exists is reused. Writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.preprocessing import StandardScaler

from common import fit_once, machine, write_results

LOADERS = {"iris": datasets.load_iris, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}
KEYS = ("best", "vote", "ensemble", "distilled", "kmeans")


def write_data(name: str, work: Path) -> Path:
    """``WORK/<name>.npz``: the standardised features as float32 ``x`` and the classes as ``y``."""
    path = work / f"{name}.npz"
    if not path.exists():
        bunch = LOADERS[name]()
        np.savez(path, x=StandardScaler().fit_transform(bunch.data).astype(np.float32), y=bunch.target)
    return path


def fit(data_path: Path, out: Path, extra: list[str]) -> dict:
    """``ddc-tf fit --kmeans`` at the defaults (and ``extra``) on ``data_path`` (reused if done)."""
    results, wall, command = fit_once(data_path, out, extra)
    summary = results["summary"]
    return {"command": command, "n": results["n"], "clusters": results["clusters"], "seconds": wall["seconds"],
            "runs_acc": [summary["acc_mean"], summary["acc_std"]], "runs_nmi": [summary["nmi_mean"], summary["nmi_std"]],
            "chosen_acc_rank": summary.get("chosen_acc_rank"), "runs_total": len(results["runs"]),
            **{key: {k: results[key][k] for k in ("acc", "nmi")} for key in KEYS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=list(LOADERS), default=list(LOADERS))
    parser.add_argument("--work", type=Path, required=True, help="folder for the data files and fit folders")
    parser.add_argument("--name", default="tabular")
    parser.add_argument("extra", nargs="*", help="after --: flags for every ddc-tf fit")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    table = {}
    for name in args.data:
        folder = "_".join([name, *(flag.lstrip("-") for flag in args.extra)])
        table[name] = fit(write_data(name, args.work), args.work / folder, args.extra)
        row = table[name]
        print(f"{name}: pick {row['best']['acc']:.3f} / {row['best']['nmi']:.3f}, "
              f"k-means++ {row['kmeans']['acc']:.3f} / {row['kmeans']['nmi']:.3f}", flush=True)
    write_results(args.name, {"command": "python " + " ".join(sys.argv), "machine": machine(), "results": table})


if __name__ == "__main__":
    main()
