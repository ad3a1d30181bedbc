"""Seconds per training step of the paper's networks (batch 100) on this machine.

    python benchmarks/step_time.py [--steps 200] [--policies float32 mixed_bfloat16] [--xla both]

Times ``model.fit`` over a repeated in-memory batch stream after a warm-up (the first
call traces and compiles; the median time between batch ends, per step), for the CNN on 28×28×1 and the MLP on 2000-d inputs, with as many
steps per call of the compiled function as ``train_run`` uses (``training.steps_per_call``).
Writes ``benchmarks/results/step_time.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from common import StepTimes, write_results
from ddc_tf.experiments import training
from ddc_tf.models import DDC

INPUTS = {"conv": (28, 28, 1), "mlp": (2000,)}


def time_steps(backbone: str, policy: str, xla: bool, steps: int, batch: int = 100, k: int = 10) -> float:
    """Seconds per step: the median over ``steps`` steps after warm-up."""
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((10 * batch, *INPUTS[backbone]), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True).repeat().prefetch(2)
    model = DDC(k, backbone=backbone)
    per_call = training.steps_per_call(steps, steps)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla, steps_per_execution=per_call)
    model.fit(dataset, steps_per_epoch=2 * per_call, epochs=1, verbose=0)  # trace + compile
    timer = StepTimes()  # the median step between batch ends: fit's start-up is not a step
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    seconds = float(np.median(timer.intervals))
    keras.mixed_precision.set_global_policy("float32")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backbones", nargs="+", default=["conv", "mlp"])
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--xla", choices=("off", "on", "both"), default="both")
    args = parser.parse_args()
    xla_modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    rows = []
    for backbone in args.backbones:
        for policy in args.policies:
            for xla in xla_modes:
                seconds = time_steps(backbone, policy, xla, args.steps)
                rows.append({"backbone": backbone, "policy": policy, "xla": xla, "batch": 100,
                             "seconds_per_step": round(seconds, 5), "examples_per_second": round(100 / seconds, 1)})
                print(f"{backbone:<5}{policy:<16}xla={str(xla):<6}{seconds * 1000:8.2f} ms/step"
                      f"{100 / seconds:10.0f} examples/s", flush=True)
    path = write_results("step_time", {"command": "python benchmarks/step_time.py " + " ".join(sys.argv[1:]), "steps": args.steps, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
