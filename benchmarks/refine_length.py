"""How long must a refined run train? ACC / NMI of refined runs along their DDC steps.

    python benchmarks/refine_length.py --data 20news --folder outputs/distill/20news-nbr5-w1 --neighbors 5 --protocols 0 10
    python benchmarks/refine_length.py --data digits --folder outputs/distill/digits-nbr5-w1 --neighbors 5 --protocols 0 10
    python benchmarks/refine_length.py --data fashion_mnist --subset 10000 --folder outputs/distill/fashion_mnist --steps 2000 --protocols 0 10

For each protocol (first seed p), DDC-ENSEMBLE of the stored independent runs ``p … p+runs−1``
of a ``benchmarks/distill.py`` folder is recomputed as ``run_protocol`` does
(``selection.ensemble(..., seed=p)``); then ``--refined`` runs (seeds ``p+runs, …``) start from
it as ``run_protocol``'s refined runs (300 mini-batches of cross-entropy towards it) and train
``--steps`` DDC steps, scored (ACC / NMI on every point) after the start, before any DDC step
(step 0), and at each ``--checkpoints`` step. Only the refined runs train; the independent runs must
be in ``--folder`` (``distill.py`` with the same data, steps and neighbours). One run of ``--steps``
steps gives the whole curve: the step count is not part of a constant-rate run's updates, so its
state at step s is that of a run of s steps. Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from common import stored_ensemble, subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.data.neighbors import nearest_neighbors
from ddc_tf.evaluation import cluster_metrics
from ddc_tf.experiments.training import PartitionStart, TrainConfig, predict_assignments, train_run
from ddc_tf.options import REFINE_START_STEPS


class ScoreAt(keras.callbacks.Callback):
    """ACC / NMI of the model on ``data`` when training begins (step 0: ``train_run`` has made
    its start) and after each of the training steps in ``steps``."""

    def __init__(self, data, steps: list[int]) -> None:
        super().__init__()
        self.data, self.steps, self.done, self.scores = data, set(steps), 0, {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.scores[0] = score(self.model, self.data)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done += 1
        if self.done in self.steps:
            self.scores[self.done] = score(self.model, self.data)


def score(model, data) -> dict[str, float]:
    metrics = cluster_metrics(data.y, predict_assignments(model, data, 1000).argmax(1))
    return {"acc": metrics["acc"], "nmi": metrics["nmi"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--folder", required=True, help="a benchmarks/distill.py run folder (runs/seed_<s>/ inside)")
    parser.add_argument("--protocols", type=int, nargs="+", default=[0], help="first seed of each protocol")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--refined", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[250, 500, 1000, 1500, 2000, 3000])
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--neighbors", type=int, default=0)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    data = subsample(ddc_data.load_arrays(args.data), args.subset)
    config = TrainConfig(n_clusters=data.n_classes, steps=args.steps, neighbors=args.neighbors,
                         neighbor_weight=1.0 if args.neighbors else None)
    graph = nearest_neighbors(data, args.neighbors, n_jobs=-1) if args.neighbors else None
    checkpoints = sorted(c for c in args.checkpoints if c <= args.steps)
    rows = []
    for first in args.protocols:
        combined = stored_ensemble(args.folder, first, args.runs, config.n_clusters)
        start = PartitionStart(combined, REFINE_START_STEPS)
        ensemble = cluster_metrics(data.y, combined)
        for seed in range(first + args.runs, first + args.runs + args.refined):
            began = time.perf_counter()
            scorer = ScoreAt(data, checkpoints)
            train_run(data, config, seed, verbose=0, neighbors=graph, start=start, callbacks=[scorer])
            row = {"protocol": first, "seed": seed, "ensemble": {m: ensemble[m] for m in ("acc", "nmi")},
                   "curve": {str(k): v for k, v in scorer.scores.items()},
                   "seconds": round(time.perf_counter() - began, 1)}
            print(f"protocol {first} seed {seed}: ensemble {ensemble['acc']:.3f} | "
                  + " ".join(f"{k}:{v['acc']:.3f}/{v['nmi']:.3f}" for k, v in row["curve"].items()), flush=True)
            rows.append(row)
    steps = ["0", *map(str, checkpoints)]
    mean = {s: {m: float(np.mean([r["curve"][s][m] for r in rows])) for m in ("acc", "nmi")} for s in steps}
    mean["ensemble"] = {m: float(np.mean([r["ensemble"][m] for r in rows])) for m in ("acc", "nmi")}
    print("mean: " + " ".join(f"{s}:{v['acc']:.3f}/{v['nmi']:.3f}" for s, v in mean.items()))
    payload = {"command": "python benchmarks/refine_length.py " + " ".join(sys.argv[1:]), "data": args.data,
               "subset": args.subset, "runs": args.runs, "steps": args.steps, "neighbors": args.neighbors,
               "start_steps": REFINE_START_STEPS, "mean": mean, "refined_runs": rows}
    print(write_results(args.name or f"refine_length_{args.data}", payload))


if __name__ == "__main__":
    main()
