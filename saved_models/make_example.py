"""Regenerate the example SavedModel: DDC trained on scikit-learn's digits, exported for TF Serving.

    python saved_models/make_example.py            # → saved_models/ddc_digits/<next version>/

Steps (about a minute on 2 CPU cores, no download):
1. ``run_protocol`` on ``digits`` (1 797 8×8 images as 64-vectors, raw pixel counts 0..16
   scaled by 1/16), MLP backbone, k = 10, 3 runs × 1500 steps, Adam 1e-3, the paper's loss
   and its lowest-loss rule (``selector="loss"``; no neighbour term, refined runs or
   distillation: the example predates them, and the script reproduces it). It writes ``model.keras``, ``results.json`` and ``data.json`` into a
   work folder (a temporary one unless ``--work`` is given).
2. ``export_from_path`` → ``saved_models/ddc_digits/<version>/`` with the scaling (raw
   float32 0..16, × 1/16) in the graph and the training results in
   ``assets.extra/ddc_tf.json``.
3. Checks that the SavedModel, fed the *raw* digits, gives exactly the clusters of the
   trained model (``best_clusters.npy``), and prints them against the labels.

Existing versions are never overwritten: a second run writes the next version.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
NAME = "ddc_digits"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=int, default=None, help="version folder (default: next free)")
    parser.add_argument("--base-dir", default=str(HERE), help="where the model folder goes (default: this folder)")
    parser.add_argument("--work", default=None, help="keep the training output here (default: a temporary folder)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.version is not None:  # checked before the minute of training, not after
        if args.version < 1:
            parser.error(f"--version must be a positive integer, got {args.version}")
        if (Path(args.base_dir) / NAME / str(args.version)).exists():
            parser.error(f"{Path(args.base_dir) / NAME / str(args.version)} exists already: versions are never "
                         "overwritten; pick another --version or leave it out")

    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from ddc_tf import data, evaluation
    from ddc_tf.serving.export import export_from_path, read_metadata
    from ddc_tf.experiments.protocol import run_protocol
    from ddc_tf.experiments.training import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        arrays = data.load_arrays("digits")
        config = TrainConfig(n_clusters=10, backbone="mlp", steps=args.steps, learning_rate=1e-3)
        results, _ = run_protocol(arrays, config, runs=args.runs, seed=args.seed, out_dir=work, verbose=0,
                                  selector="loss")
        print(f"trained: best seed {results['best']['seed']}, ACC {results['best']['acc']:.4f}, NMI {results['best']['nmi']:.4f}")
        path = export_from_path(
            work / "model.keras",
            NAME,
            version=args.version,
            base_dir=args.base_dir,
            source=f"saved_models/make_example.py (digits, mlp, {args.runs} runs x {args.steps} steps, seed {args.seed})",
        )
        trained_clusters = np.load(work / "best_clusters.npy")

    # The served model takes the raw digits (pixel counts 0..16 as float32).
    raw = load_digits().data.astype(np.float32)
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    clusters = served(x=tf.constant(raw))["cluster"].numpy()
    if not np.array_equal(clusters, trained_clusters):
        print(f"ERROR: {path} gives {int((clusters != trained_clusters).sum())} different clusters", file=sys.stderr)
        return 1
    metrics = evaluation.cluster_metrics(arrays.y, clusters)
    meta = read_metadata(path)
    print(f"exported {path}: same clusters as the trained model on all {len(raw)} digits "
          f"(ACC {metrics['acc']:.4f}, NMI {metrics['nmi']:.4f}); k={meta['model']['n_clusters']}, "
          f"input {meta['input']['raw_dtype']}{meta['input']['input_shape']} × {meta['input']['scale']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
