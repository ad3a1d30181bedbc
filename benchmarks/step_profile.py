"""Where the paper's CNN training step spends its time (batch 100, float32 or
mixed_bfloat16): each convolution kernel alone, then the step built up piece by piece.

    python benchmarks/step_profile.py [--rounds 5] [--repeats 30]
    python benchmarks/step_profile.py --policy mixed_bfloat16 --name step_profile_bf16

Kernels (``tf.function`` of one op, inputs fixed): conv1 / conv2 forward, their filter
gradients, conv2's input gradient (conv1 needs none), with the GFLOP/s each reaches.
Cumulative pieces: the backbone's forward + backward (a sum-of-squares loss), + the head
(Dense(100) → ReLU → BN → Dense(k) → softmax), + DDC's loss, + Adam's update, the model's
``train_step``, and ``model.fit`` at one step per call and at ``training.steps_per_call`` steps
per call (what ``train_run`` uses). Every piece is timed in rounds, interleaved (the machine
is shared); the median over rounds is reported, with the SGEMM peak measured alongside
(the best of all measurements, as in ``torch_reference.py``).
Writes ``benchmarks/results/<name>.json`` (``step_profile.json`` by default).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from common import StepTimes, write_results
from torch_reference import conv_step_flops, matmul_peak, tf_model
from ddc_tf.experiments import training
from ddc_tf.models import DDC

BATCH = 100


def conv_kernels(rng: np.random.Generator, dtype: tf.DType = tf.float32) -> dict[str, tuple[callable, float]]:
    """``name -> (zero-argument tf.function, GFLOP of the op)`` for the CNN's convolutions,
    computed in ``dtype`` (bfloat16: what they run in under ``mixed_bfloat16``)."""
    def const(values: np.ndarray) -> tf.Tensor:
        return tf.cast(tf.constant(values.astype(np.float32)), dtype)

    x = const(rng.random((BATCH, 28, 28, 1)))
    h = const(rng.random((BATCH, 12, 12, 32)))
    w1 = const(rng.normal(size=(5, 5, 1, 32)))
    w2 = const(rng.normal(size=(5, 5, 32, 64)))
    d1 = const(rng.random((BATCH, 24, 24, 32)))
    d2 = const(rng.random((BATCH, 8, 8, 64)))
    ones = [1, 1, 1, 1]
    conv1 = 2 * BATCH * 24 * 24 * 32 * 25 / 1e9
    conv2 = 2 * BATCH * 8 * 8 * 64 * 25 * 32 / 1e9
    return {
        "conv1 forward": (tf.function(autograph=False, func=lambda: tf.nn.conv2d(x, w1, 1, "VALID")), conv1),
        "conv1 filter gradient": (tf.function(autograph=False, func=lambda: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=[5, 5, 1, 32], out_backprop=d1, strides=ones, padding="VALID")), conv1),
        "conv2 forward": (tf.function(autograph=False, func=lambda: tf.nn.conv2d(h, w2, 1, "VALID")), conv2),
        "conv2 filter gradient": (tf.function(autograph=False, func=lambda: tf.raw_ops.Conv2DBackpropFilter(
            input=h, filter_sizes=[5, 5, 32, 64], out_backprop=d2, strides=ones, padding="VALID")), conv2),
        "conv2 input gradient": (tf.function(autograph=False, func=lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=[BATCH, 12, 12, 32], filter=w2, out_backprop=d2, strides=ones, padding="VALID")), conv2),
    }


def step_pieces(model: DDC, x: tf.Tensor) -> dict[str, callable]:
    """``name -> zero-argument tf.function``: the training step built up piece by piece."""
    backbone, variables, optimizer = model.backbone, model.trainable_variables, model.optimizer

    @tf.function
    def backbone_forward_backward():
        with tf.GradientTape() as tape:
            features = backbone(x, training=True)
            loss = tf.reduce_sum(tf.square(features))
        return [loss, *tape.gradient(loss, backbone.trainable_variables)]

    @tf.function
    def network_forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True)))
        return [loss, *tape.gradient(loss, variables)]

    @tf.function
    def with_ddc_loss():
        with tf.GradientTape() as tape:
            _, loss = model.step_objective(x, None, tape)
        return [loss, *tape.gradient(loss, variables)]

    @tf.function
    def with_adam():
        with tf.GradientTape() as tape:
            _, loss = model.step_objective(x, None, tape)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    @tf.function
    def train_step():
        return model.train_step(x)["loss"]

    return {
        "backbone forward + backward": backbone_forward_backward,
        "+ head (whole network)": network_forward_backward,
        "+ DDC loss": with_ddc_loss,
        "+ Adam update": with_adam,
        "train_step (+ metrics)": train_step,
    }


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        (out[0] if isinstance(out, list) else out).numpy()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30, help="calls (or fit steps) per piece per round")
    parser.add_argument("--policy", choices=("float32", "mixed_bfloat16"), default="float32",
                        help="Keras dtype policy of the models (the kernels then run in bfloat16 too)")
    parser.add_argument("--name", default="step_profile", help="results file name")
    args = parser.parse_args()
    keras.mixed_precision.set_global_policy(args.policy)
    rng = np.random.default_rng(0)
    xs = rng.random((4 * BATCH, 28, 28, 1), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(xs).batch(BATCH, drop_remainder=True).repeat().prefetch(2)
    kernels = conv_kernels(rng, tf.bfloat16 if args.policy == "mixed_bfloat16" else tf.float32)
    keras.utils.set_random_seed(0)
    model = DDC(10, backbone="conv")
    model.build((None, 28, 28, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    pieces = step_pieces(model, tf.constant(xs[:BATCH]))
    per_call = training.steps_per_call(args.repeats, args.repeats)
    fit_models = {f"model.fit, {steps} step{'s' if steps > 1 else ''} per call": tf_model(args.policy, dataset, steps)
                  for steps in (1, per_call)}  # built and traced as torch_reference.py's
    for fn, _ in kernels.values():
        timed(fn, 3)
    for fn in pieces.values():
        timed(fn, 3)

    samples: dict[str, list[float]] = {name: [] for name in [*kernels, *pieces, *fit_models]}
    peaks = [matmul_peak(repeats=3)]
    for _ in range(args.rounds):
        for name, (fn, _) in kernels.items():
            samples[name].append(float(np.median(timed(fn, args.repeats))))
        for name, fn in pieces.items():
            samples[name].append(float(np.median(timed(fn, args.repeats))))
        for name, fit_model in fit_models.items():
            timer = StepTimes()
            fit_model.fit(dataset, steps_per_epoch=args.repeats, epochs=1, verbose=0, callbacks=[timer])
            samples[name].append(float(np.median(timer.intervals)))
        peaks.append(matmul_peak(repeats=3))
    peak = max(p["peak_gflops"] for p in peaks)
    step_gflop = conv_step_flops()["total"] / 1e9
    rows = []
    for name, values in samples.items():
        ms = 1e3 * float(np.median(values))
        gflop = kernels[name][1] if name in kernels else step_gflop if name.startswith(("train_step", "model.fit")) else None
        row = {"piece": name, "ms": ms, "kind": "kernel" if name in kernels else "step"}
        if gflop is not None:
            row.update(gflop=gflop, gflops_per_s=gflop / ms * 1e3, fraction_of_peak=gflop / ms * 1e3 / peak)
        rows.append(row)
        extra = f"  {row['gflops_per_s']:6.1f} GFLOP/s ({100 * row['fraction_of_peak']:.0f} % of peak)" if gflop else ""
        print(f"{name:<34} {ms:7.2f} ms{extra}", flush=True)
    kernel_ms = sum(r["ms"] for r in rows if r["kind"] == "kernel")
    print(f"convolution kernels together {kernel_ms:.2f} ms; SGEMM peak {peak:.1f} GFLOP/s; "
          f"whole step {step_gflop:.2f} GFLOP = {step_gflop / peak * 1e3:.1f} ms at peak")
    path = write_results(args.name, {
        "policy": args.policy, "rows": rows, "convolution_kernels_ms": kernel_ms, "sgemm_peak_gflops": peak,
        "sgemm_measurements_gflops": [round(p["peak_gflops"], 1) for p in peaks], "step_gflop": step_gflop,
        "load_avg": os.getloadavg(), "command": "python benchmarks/step_profile.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
