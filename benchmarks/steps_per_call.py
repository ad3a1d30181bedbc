"""Wall time of one training run as ``ddc-tf fit`` trains it, with several steps per call of
the compiled train function (``ddc_tf.experiments.training.steps_per_call``, at most
``MAX_STEPS_PER_CALL``) against one step per call — the A/B of that change.

    python benchmarks/steps_per_call.py [--steps 1000] [--rounds 3] [--cases conv mlp]

Cases: ``conv`` — the paper's CNN on a random 10 000 Fashion-MNIST images (local IDX files;
random 28×28 images when absent); ``mlp`` — the MLP with 10 neighbour pairs per point on
scikit-learn's digits (the CLI's default there). Each round trains one run per setting,
interleaved (the machine is shared); a run's wall time includes building and tracing, the
same in both. Reported: median seconds per step over rounds, and the speed-up.
Writes ``benchmarks/results/steps_per_call.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from common import subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.data import ArrayData
from ddc_tf.experiments import training
from ddc_tf.experiments.training import TrainConfig, train_run


def case_data(case: str) -> tuple[ArrayData, TrainConfig, str]:
    if case == "conv":
        try:
            data, source = subsample(ddc_data.load_arrays("fashion_mnist"), 10_000), "fashion_mnist 10000"
        except Exception:  # no local Fashion-MNIST: random images time the same network
            x = np.random.default_rng(0).random((10_000, 28, 28, 1), dtype=np.float32)
            data = ArrayData(x=x, y=None, name="random", kind="image", raw_dtype="float32", scale=1.0)
            source = "random 28x28 images"
        return data, TrainConfig(n_clusters=10, backbone="conv"), source
    if case == "mlp":
        return ddc_data.load_arrays("digits"), TrainConfig(n_clusters=10, backbone="mlp", neighbors=10), "digits"
    raise ValueError(f"unknown case {case!r}")


def timed_run(data: ArrayData, config: TrainConfig, max_per_call: int) -> float:
    training.MAX_STEPS_PER_CALL = max_per_call
    start = time.perf_counter()
    model, _ = train_run(data, config, seed=0, verbose=0)
    seconds = time.perf_counter() - start
    assert int(model.optimizer.iterations.numpy()) == config.steps
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["conv", "mlp"], choices=["conv", "mlp"])
    args = parser.parse_args()
    default_max = training.MAX_STEPS_PER_CALL
    rows = []
    for case in args.cases:
        data, config, source = case_data(case)
        config.steps = args.steps
        per_call = training.steps_per_call(config.steps, training.chunking(config.steps)[0])
        times: dict[int, list[float]] = {1: [], default_max: []}
        for _ in range(args.rounds):
            for setting in times:
                times[setting].append(timed_run(data, config, setting))
        one, many = (float(np.median(times[s])) / args.steps for s in (1, default_max))
        rows.append({
            "case": case, "data": source, "steps": args.steps, "steps_per_call": per_call,
            "ms_per_step_one_per_call": 1e3 * one, "ms_per_step_steps_per_call": 1e3 * many,
            "speedup": one / many, "run_seconds": {str(s): v for s, v in times.items()},
        })
        print(f"{case:<5} {source:<22} 1 step/call {1e3 * one:6.2f} ms   {per_call} steps/call "
              f"{1e3 * many:6.2f} ms   ×{one / many:.2f}", flush=True)
    path = write_results("steps_per_call", {
        "rows": rows, "load_avg": os.getloadavg(),
        "command": "python benchmarks/steps_per_call.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
