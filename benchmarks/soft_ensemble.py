"""DDC-ENSEMBLE on the runs' cluster ids (one-hot, today) or on their soft assignments.

DDC-ENSEMBLE is k-means++ on the runs' one-hot cluster indicators side by side
(``ddc_tf.selection.ensemble``). Each run also gives every point a probability vector; a
point a run is unsure about then counts for less. This script re-reads finished protocol
folders (no training): it predicts every run's probabilities with its saved model, then
clusters the one-hot and the probability matrices with the same k-means++ (best of 20,
seed 0) and scores both against the labels (which only score, never choose).

    python benchmarks/soft_ensemble.py --folders /tmp/outputs/distill/20news-nbr5-w1-at4 \\
        --protocols-of 10 --stride 2 --name soft_ensemble

A folder is a ``ddc-tf fit`` / ``run_protocol`` output (``data.json``, ``runs/seed_*/model.keras``);
its data are read as ``data.json`` names them (set ``DDC_TF_DATA_DIR`` for ``20news``).
``--protocols-of R`` cuts a folder's runs, in seed order, into windows of R (every
``--stride`` seeds); otherwise all its independent runs are one protocol. Writes
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results
import ddc_tf  # noqa: F401  (registers the model classes for loading)
import keras
from ddc_tf import baselines, evaluation
from ddc_tf.data import load_arrays
from ddc_tf.selection import ensemble


def soft_ensemble(probabilities: list[np.ndarray], n_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means++ (best of ``baselines.DEFAULT_N_INIT``) on the runs' ``(n, k)`` probabilities side by side."""
    return baselines.kmeans(np.concatenate(probabilities, axis=1), n_clusters,
                            n_init=baselines.DEFAULT_N_INIT, seed=seed)


def folder_probabilities(folder: Path) -> tuple[dict[int, np.ndarray], np.ndarray, int]:
    """Every independent run's probabilities ``{seed: (n, k)}``, the labels and k."""
    info = json.loads((folder / "data.json").read_text())
    data = load_arrays(info["name"], **(info.get("load_options") or {}))
    x = data.x.toarray() if data.is_sparse else data.x
    probabilities = {}
    for run in sorted((folder / "runs").glob("seed_*"), key=lambda p: int(p.name.split("_")[1])):
        model = keras.models.load_model(run / "model.keras")
        probabilities[int(run.name.split("_")[1])] = np.asarray(model.predict(x, batch_size=1000, verbose=0),
                                                                dtype=np.float32)
        clusters = run / "clusters.npy"
        if clusters.exists():  # the saved model is the run that was scored
            agree = float(np.mean(np.load(clusters) == probabilities[int(run.name.split("_")[1])].argmax(1)))
            if agree < 0.99:
                print(f"  warning: {run}: the saved model's clusters agree with clusters.npy on {agree:.3f}", flush=True)
    return probabilities, data.y, int(data.n_classes)


def score(y: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    return {"acc": round(float(evaluation.accuracy(y, clusters)), 4), "nmi": round(float(evaluation.nmi(y, clusters)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs="+", type=Path, required=True)
    parser.add_argument("--protocols-of", type=int, default=None, metavar="R")
    parser.add_argument("--stride", type=int, default=None, help="seeds between windows (default R: no overlap)")
    parser.add_argument("--name", default="soft_ensemble")
    args = parser.parse_args()
    previous = Path(__file__).parent / "results" / f"{args.name}.json"
    rows = json.loads(previous.read_text())["rows"] if previous.exists() else []
    commands = json.loads(previous.read_text()).get("commands", []) if previous.exists() else []
    command = "python benchmarks/soft_ensemble.py " + " ".join(sys.argv[1:])
    if command not in commands:
        commands.append(command)
    for folder in args.folders:
        probabilities, y, k = folder_probabilities(folder)
        seeds = sorted(probabilities)
        if args.protocols_of:
            stride = args.stride or args.protocols_of
            windows = [seeds[a:a + args.protocols_of] for a in range(0, len(seeds) - args.protocols_of + 1, stride)]
        else:
            windows = [seeds]
        for window in windows:
            onehot = ensemble([probabilities[s].argmax(1) for s in window], k, seed=0)
            soft = soft_ensemble([probabilities[s] for s in window], k, seed=0)
            row = {"folder": str(folder), "seeds": [window[0], window[-1]], "runs": len(window),
                   "onehot": score(y, onehot), "soft": score(y, soft),
                   "agreement": round(float(evaluation.accuracy(onehot, soft)), 4)}
            rows = [r for r in rows if (r["folder"], r["seeds"]) != (row["folder"], row["seeds"])] + [row]
            print(f"{folder} seeds {window[0]}-{window[-1]}: one-hot {row['onehot']['acc']:.3f} / "
                  f"{row['onehot']['nmi']:.3f}, soft {row['soft']['acc']:.3f} / {row['soft']['nmi']:.3f} "
                  f"(the two agree on {row['agreement']:.3f})", flush=True)
        write_results(args.name, {"commands": commands, "rows": rows})


if __name__ == "__main__":
    main()
