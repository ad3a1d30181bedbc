"""Throughput of training R runs together (``ddc-tf fit --runs-at-once R``) against one by one.

For each backbone and R, ``ddc_tf.experiments.grouped.train_runs`` trains R runs of the
CLI's default configuration; a callback times every step (batch end to batch end, the first
step of each chunk left out) and the median is the steady-state time of one step of the
group (model building and tracing excluded). Reported: ms per group step,
ms per run-step and examples·runs per second (batch 100), and the speed-up over R = 1.

    python benchmarks/protocol_throughput.py                       # conv and mlp, R = 1 4 10
    python benchmarks/protocol_throughput.py --backbones conv --runs 1 2 4 10 20 --steps 200
    python benchmarks/protocol_throughput.py --protocol 10 --protocol-steps 3000 --runs-at-once 1 5

``--protocol R`` also times the whole protocol — R runs × ``--protocol-steps`` of the paper's
CNN on a random 10 000 Fashion-MNIST images (``run_protocol``, as ``ddc-tf fit`` runs it,
distillation included) — once per ``--runs-at-once`` value, and reports each run's ACC so
that "results unchanged" can be checked. ``--mixed-precision bfloat16`` trains everything in
that policy, as ``ddc-tf fit --mixed-precision bfloat16`` does. Writes ``benchmarks/results/protocol_throughput.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from common import StepTimes, machine, subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.data import ArrayData
from ddc_tf.experiments.grouped import train_runs
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig
from ddc_tf.options import DEFAULT_DISTILL_STEPS, default_neighbors

BATCH = 100


def synthetic(backbone: str, n: int = 2000) -> ArrayData:
    """Random inputs of the paper's shapes (throughput does not depend on their values)."""
    rng = np.random.default_rng(0)
    shape = (28, 28, 1) if backbone == "conv" else (2000,)
    x = rng.random((n, *shape), dtype=np.float32)
    return ArrayData(x=x, y=rng.integers(0, 10, n), name=f"random_{backbone}", kind="image" if backbone == "conv"
                     else "vector", raw_dtype="float32", scale=1.0)


def group_step_seconds(data: ArrayData, config: TrainConfig, runs: int, steps: int) -> float:
    """Median seconds of one training step of a group of ``runs`` (all steps after the first
    of each chunk; model building and tracing excluded)."""
    timer = StepTimes()
    train_runs(data, TrainConfig(**{**config.to_dict(), "steps": steps}), list(range(runs)), callbacks=[timer])
    return float(np.median(timer.intervals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["conv", "mlp"], choices=["conv", "mlp"])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("--steps", type=int, default=200, help="steps per group (10 chunks; the median step is kept)")
    parser.add_argument("--protocol", type=int, default=0, metavar="R", help="also time a whole protocol of R runs")
    parser.add_argument("--protocol-steps", type=int, default=3000)
    parser.add_argument("--runs-at-once", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--mixed-precision", choices=("bfloat16", "float16"), default=None,
                        help="train in this mixed precision (as `ddc-tf fit --mixed-precision`; the loss stays float32)")
    parser.add_argument("--name", default="protocol_throughput")
    args = parser.parse_args()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(f"mixed_{args.mixed_precision}")
    payload: dict = {"command": "python benchmarks/protocol_throughput.py " + " ".join(sys.argv[1:]),
                     "machine": machine(), "batch": BATCH, "mixed_precision": args.mixed_precision, "throughput": [], "protocol": []}
    for backbone in args.backbones:
        data = synthetic(backbone)
        config = TrainConfig(n_clusters=10, backbone=backbone, batch_size=BATCH,
                             neighbors=default_neighbors("ddc", backbone, data.n))
        single = None
        for runs in args.runs:
            seconds = group_step_seconds(data, config, runs, args.steps)
            single = single or seconds
            row = {"backbone": backbone, "neighbors": config.neighbors, "runs": runs,
                   "ms_per_group_step": round(1000 * seconds, 2), "ms_per_run_step": round(1000 * seconds / runs, 2),
                   "examples_runs_per_s": round(BATCH * runs / seconds), "speedup": round(single * runs / seconds, 2)}
            payload["throughput"].append(row)
            print(f"{backbone} R={runs:<3} {row['ms_per_group_step']:8.1f} ms/step  {row['ms_per_run_step']:6.1f} ms/run-step"
                  f"  {row['examples_runs_per_s']:7d} examples·runs/s  ×{row['speedup']:.2f}", flush=True)
            write_results(args.name, payload)
    if args.protocol:
        fashion = subsample(ddc_data.load_arrays("fashion_mnist"), 10000)
        config = TrainConfig(n_clusters=10, backbone="conv", steps=args.protocol_steps)
        for at_once in args.runs_at_once:
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                results, _ = run_protocol(fashion, config, runs=args.protocol, out_dir=out, verbose=0,
                                          distill_steps=DEFAULT_DISTILL_STEPS, runs_at_once=at_once)
                seconds = time.perf_counter() - start
            row = {"runs": args.protocol, "steps": args.protocol_steps, "runs_at_once": at_once,
                   "seconds": round(seconds, 1), "acc": [round(r["acc"], 4) for r in results["runs"]],
                   "nmi": [round(r["nmi"], 4) for r in results["runs"]],
                   "distilled": results["distilled"] and {k: results["distilled"][k] for k in ("acc", "nmi")}}
            payload["protocol"].append(row)
            print(f"protocol {args.protocol} × {args.protocol_steps} CNN, runs at once {at_once}: {seconds:.0f} s, "
                  f"runs' ACC {row['acc']}", flush=True)
            write_results(args.name, payload)


if __name__ == "__main__":
    main()
