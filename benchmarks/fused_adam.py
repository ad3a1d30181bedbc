"""A/B of ``FusedAdam`` (``ddc_tf.models.optimizers``) against Keras' Adam: a run's fixed cost
(build, trace, first call) and its time per step, as ``ddc-tf fit`` trains one run.

    python benchmarks/fused_adam.py [--short 20] [--long 420] [--rounds 4] [--cases conv mlp]

Cases as ``benchmarks/steps_per_call.py`` (``conv``: the paper's CNN on 10 000 Fashion-MNIST or
random 28×28 images; ``mlp``: digits with 10 neighbour pairs). Each round trains, per optimizer,
one run of ``--short`` steps and one of ``--long`` steps, interleaved and in alternating order
(the machine is shared). Keras' Adam is timed by giving ``FusedAdam`` Keras' ``update_step``
for that round's runs (each run traces anew, so the swap takes effect). Reported: median over
rounds of the short run's seconds (the fixed cost dominates it) and of the per-step time
``(long − short) / (long − short steps)``. Writes ``benchmarks/results/fused_adam.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from common import write_results
from steps_per_call import case_data
from ddc_tf.experiments.training import train_run
from ddc_tf.models.optimizers import FusedAdam

UPDATES = {"keras_adam": keras.optimizers.Adam.update_step, "fused_adam": FusedAdam.update_step}


def timed(data, config, steps: int, seed: int) -> float:
    config.steps = steps
    start = time.perf_counter()
    model, _ = train_run(data, config, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    assert isinstance(model.optimizer, FusedAdam) and int(model.optimizer.iterations.numpy()) == steps
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=420)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cases", nargs="+", default=["conv", "mlp"], choices=["conv", "mlp"])
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        data, config, source = case_data(case)
        short: dict[str, list[float]] = {name: [] for name in UPDATES}
        per_step: dict[str, list[float]] = {name: [] for name in UPDATES}
        for r in range(args.rounds):
            for name in list(UPDATES)[:: 1 if r % 2 == 0 else -1]:
                FusedAdam.update_step = UPDATES[name]
                s, l = timed(data, config, args.short, r), timed(data, config, args.long, r)
                short[name].append(s)
                per_step[name].append(1e3 * (l - s) / (args.long - args.short))
        FusedAdam.update_step = UPDATES["fused_adam"]
        median_short = {name: float(np.median(times)) for name, times in short.items()}
        median_step = {name: float(np.median(times)) for name, times in per_step.items()}
        rows.append({"case": case, "data": source, "short_steps": args.short, "long_steps": args.long,
                     "short_run_seconds": short, "ms_per_step": per_step,
                     "median_short_run_seconds": median_short, "median_ms_per_step": median_step})
        print(f"{case:<5} {source:<22} {args.short}-step run: Keras' Adam {median_short['keras_adam']:.2f} s, "
              f"FusedAdam {median_short['fused_adam']:.2f} s   per step: {median_step['keras_adam']:.2f} ms, "
              f"{median_step['fused_adam']:.2f} ms", flush=True)
    path = write_results("fused_adam", {
        "rows": rows, "load_avg": os.getloadavg(),
        "command": "python benchmarks/fused_adam.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
