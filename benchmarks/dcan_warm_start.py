"""What DCAN's training does to a good partition it starts from (the reason its CNN runs
fall below k-means++ on Fashion-MNIST).

    python benchmarks/dcan_warm_start.py [--data fashion_mnist] [--subset 10000] [--seeds 0 1 2]
        [--settings lr1e-3 lr1e-4] [--steps 2000] [--pretrain-steps 1000]

Each run is ``train_run`` of DCAN with a DDC-pretrained backbone (``--pretrain-steps``, as
``ddc-tf fit --method dcan`` does) — and one thing more: DCAN's latent layer, which the
pre-training leaves random, is fitted (ridge regression on the hidden representation) so
that every point starts on the prior centre of the cluster the pretrained DDC network gives
it. The encoder therefore starts *at* DDC's partition, already close to the prior. Reported
per run: the pretrained DDC network's ACC, the warm-started DCAN's ACC and its agreement
with DDC's clusters (before any DCAN step), and ACC / NMI after ``--steps`` DCAN steps.
Labels only score. Settings: ``lr1e-3`` (the default rate), ``lr1e-4`` (a tenth, for the
DCAN phase only; the pre-training keeps 1e-3), ``rec0.3`` (reconstruction weight 0.3).
Writes ``benchmarks/results/dcan_warm_start.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from common import subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.evaluation import accuracy, nmi
from ddc_tf.experiments import training
from ddc_tf.experiments.protocol import embed_data
from ddc_tf.experiments.training import TrainConfig, predict_assignments, train_run

SETTINGS = {
    "lr1e-3": {},
    "lr1e-4": {"learning_rate": 1e-4},
    "rec0.3": {"model_options": {"reconstruction_weight": 0.3}},
}
RIDGE = 1e-3  # per point: the fit's regulariser, relative to the hidden features' scale
#: The package's pre-training, taken once: each run's wrapper must call it, not the wrapper
#: of the run before (that chain redid every earlier fit and wrote into earlier runs' records).
PRETRAIN_BACKBONE = training.pretrain_backbone


def warm_starting(record: dict):
    """A ``pretrain_backbone`` that also fits DCAN's latent layer onto the pretrained clusters
    (and records what it started from in ``record``)."""
    def pretrain(model, data, config, seed, neighbors=None):
        ddc_config = dataclasses.replace(config, learning_rate=None)  # the DCAN rate is not DDC's
        ddc_model = PRETRAIN_BACKBONE(model, data, ddc_config, seed, neighbors)
        clusters = predict_assignments(ddc_model, data).argmax(axis=1)
        features = np.hstack([embed_data(ddc_model, data), np.ones((data.n, 1))]).astype(np.float64)
        targets = model.separation * np.eye(model.n_clusters, model.latent_dim)[clusters]
        gram = features.T @ features + RIDGE * data.n * np.eye(features.shape[1])
        weights = np.linalg.solve(gram, features.T @ targets)
        model.latent_layer.set_weights([weights[:-1].astype(np.float32), weights[-1].astype(np.float32)])
        warm = predict_assignments(model, data).argmax(axis=1)
        record.update(pretrained_acc=accuracy(data.y, clusters), warm_acc=accuracy(data.y, warm),
                      warm_agreement=float(np.mean(warm == clusters)))
        return ddc_model

    return pretrain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=["lr1e-3", "lr1e-4"], choices=sorted(SETTINGS))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    args = parser.parse_args()
    data = subsample(ddc_data.load_arrays(args.data), args.subset)
    rows = []
    for setting in args.settings:
        for seed in args.seeds:
            record: dict = {"setting": setting, "seed": seed}
            training.pretrain_backbone = warm_starting(record)
            config = TrainConfig(n_clusters=int(data.y.max()) + 1, method="dcan", steps=args.steps,
                                 pretrain_steps=args.pretrain_steps, **SETTINGS[setting])
            start = time.perf_counter()
            model, _ = train_run(data, config, seed, verbose=0)
            clusters = predict_assignments(model, data).argmax(axis=1)
            record.update(acc=accuracy(data.y, clusters), nmi=nmi(data.y, clusters),
                          seconds=round(time.perf_counter() - start, 1))
            rows.append(record)
            print(f"{setting:<7} seed {seed}: pretrained DDC {record['pretrained_acc']:.3f} → warm start "
                  f"{record['warm_acc']:.3f} (agreement {record['warm_agreement']:.3f}) → after DCAN "
                  f"{record['acc']:.3f} / NMI {record['nmi']:.3f}", flush=True)
    path = write_results("dcan_warm_start", {
        "data": args.data, "subset": args.subset, "steps": args.steps, "pretrain_steps": args.pretrain_steps,
        "rows": rows, "command": "python benchmarks/dcan_warm_start.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
