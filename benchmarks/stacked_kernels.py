"""Would stacking R runs' weights into batched kernels make a group's step faster here?

``ddc-tf fit --runs-at-once R`` (``ddc_tf.models.group.RunGroup``) traces the R runs'
networks side by side in one program: R small matmuls / convolutions per layer, which
TensorFlow may run concurrently. The alternative the issue names is to *stack* them: one
batched matmul ``(R, m, d_in) × (R, d_in, d_out)`` per dense layer, one grouped
convolution (``R`` groups, input channels ``R · c``) per convolution — a few large kernels
instead of R small ones, which is what fills a GPU.

This benchmark times both forms of the same training step — the networks of ``ddc-tf fit``
(MLP 2000-d: 200-200 | 500 BN | k; the paper's CNN on 28×28×1: conv 5×5×32, pool, conv
5×5×64, pool | 100 BN | k; k = 10), each run's own DDC loss (``ddc_tf.losses.ddc_loss``) on its own
batch, gradients and an Adam update — in one process, rounds interleaved, and reports the
median ms per group step. It checks first that both forms compute the same loss from the
same weights (to 1e-4 relative). Nothing here trains the package's models: it measures
the kernels, to decide whether a stacked ``RunGroup`` is worth building for CPUs.

    python benchmarks/stacked_kernels.py                               # mlp and conv, R = 1 4 10
    python benchmarks/stacked_kernels.py --threads-per-op 1 --name stacked_kernels_intra1

``--threads-per-op 1`` sizes TensorFlow's pools as ``ddc-tf fit`` does for MLP groups (one
thread per op, as many ops at once as cores). Writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from common import write_results
from ddc_tf.losses import ddc_loss

K = 10
MLP_WIDTHS = (2000, 200, 200)  # input, then the backbone's two layers
MLP_HIDDEN = 500
CONV_HIDDEN = 100
FLAT_CONV = 4 * 4 * 64  # the conv backbone's output for 28×28×1 inputs


def _glorot(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def dense_shapes(backbone: str) -> list[tuple[int, int]]:
    """(d_in, d_out) of the dense layers after the backbone's own layers: hidden, output."""
    if backbone == "mlp":
        pairs = list(zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:]))
        return pairs + [(MLP_WIDTHS[-1], MLP_HIDDEN), (MLP_HIDDEN, K)]
    return [(FLAT_CONV, CONV_HIDDEN), (CONV_HIDDEN, K)]


def make_weights(backbone: str, runs: int, seed: int = 0) -> list[np.ndarray]:
    """Every run's weights stacked on a leading run axis: conv filters ``(R, h, w, c_in, c_out)``
    and biases ``(R, c_out)``, dense kernels ``(R, d_in, d_out)`` and biases ``(R, 1, d_out)``,
    batch-norm scale/offset ``(R, 1, d)`` (the 1 broadcasts over the batch, one run's slice or all)."""
    rng = np.random.default_rng(seed)
    weights = []
    if backbone == "conv":
        for c_in, c_out in ((1, 32), (32, 64)):
            weights += [_glorot(rng, (runs, 5, 5, c_in, c_out), 25 * c_in, 25 * c_out), np.zeros((runs, c_out), np.float32)]
    for d_in, d_out in dense_shapes(backbone):
        weights += [_glorot(rng, (runs, d_in, d_out), d_in, d_out), np.zeros((runs, 1, d_out), np.float32)]
    hidden = MLP_HIDDEN if backbone == "mlp" else CONV_HIDDEN
    weights += [np.ones((runs, 1, hidden), np.float32), np.zeros((runs, 1, hidden), np.float32)]
    return weights


def _batch_norm(h: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Batch norm over the batch axis (-2) of ``(m, d)`` or ``(R, m, d)``."""
    mean, var = tf.nn.moments(h, axes=[-2], keepdims=True)
    return tf.nn.batch_normalization(h, mean, var, offset, scale, 1e-3)


def dense_head(backbone: str, w: list[tf.Variable], h: tf.Tensor, i: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The dense layers from weight ``w[i]`` on, for one run (``h`` ``(m, d)``, ``w`` its own)
    or all stacked (``h`` ``(R, m, d)``, batched matmuls): hidden and assignments."""
    n_dense = len(dense_shapes(backbone))
    for layer in range(n_dense):
        h = tf.matmul(h, w[i]) + w[i + 1]
        i += 2
        if layer == n_dense - 2:
            hidden = _batch_norm(tf.nn.relu(h), w[-2], w[-1])
            h = hidden
        elif layer < n_dense - 2:
            h = tf.nn.relu(h)
    return hidden, tf.nn.softmax(h)


def _pool_relu(h: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(tf.nn.max_pool2d(h, 2, 2, "VALID"))


def separate_forward(backbone: str, w: list[tf.Variable], x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One run's hidden ``(m, hidden)`` and assignments ``(m, k)`` from its own variables
    (``w``: the run's slices of :func:`make_weights`): its own small kernels, as a
    ``RunGroup`` member computes them."""
    i = 0
    h = x
    if backbone == "conv":
        for _ in range(2):
            h = _pool_relu(tf.nn.conv2d(h, w[i], 1, "VALID") + w[i + 1])
            i += 2
        h = tf.reshape(h, (tf.shape(h)[0], -1))
    return dense_head(backbone, w, h, i)


def stacked_forward(backbone: str, w: list[tf.Variable], x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """All runs at once: ``x`` ``(R, m, …)`` → hidden ``(R, m, hidden)``, assignments ``(R, m, k)``,
    by grouped convolutions and batched matmuls."""
    runs = x.shape[0]
    i = 0
    h = x
    if backbone == "conv":
        # (R, m, h, w, 1) → (m, h, w, R): run r's channels are group r.
        h = tf.transpose(h[..., 0], [1, 2, 3, 0])
        for _ in range(2):
            f = w[i]  # (R, kh, kw, c_in, c_out) → (kh, kw, c_in, R · c_out), groups of c_out
            kernel = tf.reshape(tf.transpose(f, [1, 2, 3, 0, 4]), (5, 5, f.shape[3], runs * f.shape[4]))
            h = _pool_relu(tf.nn.conv2d(h, kernel, 1, "VALID") + tf.reshape(w[i + 1], (-1,)))
            i += 2
        m = tf.shape(h)[0]
        # (m, 4, 4, R · 64) → (R, m, 4 · 4 · 64) in each run's own flattening order.
        h = tf.reshape(h, (m, 4, 4, runs, 64))
        h = tf.reshape(tf.transpose(h, [3, 0, 1, 2, 4]), (runs, m, FLAT_CONV))
    return dense_head(backbone, w, h, i)


def make_steps(backbone: str, runs: int) -> dict[str, tuple[tf.types.experimental.GenericFunction, list]]:
    """The two forms of one training step (loss of every run summed, gradients, Adam), each
    with its own copy of the same initial weights and its own optimizer."""
    steps = {}
    initial = make_weights(backbone, runs)
    for form in ("separate", "stacked"):
        # separate: R lists of variables (slicing one stacked variable would make every run's
        # gradient a full-size (R, …) tensor); stacked: one variable per weight, run axis first.
        own = [[tf.Variable(a[r]) for a in initial] for r in range(runs)] if form == "separate" else None
        w = [v for run in own for v in run] if own else [tf.Variable(a) for a in initial]
        opt = tf.keras.optimizers.Adam(1e-3)

        def losses(x: tf.Tensor, w: list = w, own: list | None = own) -> tf.Tensor:
            if own is not None:
                outs = [separate_forward(backbone, own[r], x[r]) for r in range(runs)]
            else:
                hidden, a = stacked_forward(backbone, w, x)
                outs = [(hidden[r], a[r]) for r in range(runs)]
            return tf.stack([ddc_loss(h, a)["total"] for h, a in outs])

        @tf.function
        def step(x: tf.Tensor, losses=losses, w: list = w, opt=opt) -> tf.Tensor:
            with tf.GradientTape() as tape:
                per_run = losses(x)
                total = tf.reduce_sum(per_run)
            opt.apply_gradients(zip(tape.gradient(total, w), w))
            return per_run

        steps[form] = (step, tf.function(losses))
    return steps


def inputs(backbone: str, runs: int, batch: int, seed: int = 1) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    if backbone == "conv":
        return tf.constant(rng.random((runs, batch, 28, 28, 1), dtype=np.float32))
    # TF-IDF-like: 2 % non-zero, as 20news's rows are.
    x = rng.random((runs, batch, MLP_WIDTHS[0]), dtype=np.float32) * (rng.random((runs, batch, MLP_WIDTHS[0])) < 0.02)
    return tf.constant(x)


def measure(backbone: str, runs: int, batch: int, repeats: int, rounds: int) -> dict:
    steps = make_steps(backbone, runs)
    x = inputs(backbone, runs, batch)
    first = {form: losses(x).numpy() for form, (_, losses) in steps.items()}
    gap = float(np.max(np.abs(first["separate"] - first["stacked"]) / np.abs(first["separate"])))
    if gap > 1e-4:
        raise SystemExit(f"{backbone} R={runs}: the stacked step's loss differs from the separate one by {gap:.2e}")
    for step, _ in steps.values():
        for _ in range(5):
            step(x)
    times: dict[str, list[float]] = {form: [] for form in steps}
    for _ in range(rounds):
        for form, (step, _) in steps.items():
            start = time.perf_counter()
            for _ in range(repeats):
                out = step(x)
            out.numpy()
            times[form].append((time.perf_counter() - start) / repeats * 1e3)
    row = {"backbone": backbone, "runs": runs, "loss_relative_gap": gap}
    for form, values in times.items():
        row[f"{form}_ms"] = float(np.median(values))
        row[f"{form}_rounds_ms"] = [round(v, 3) for v in values]
    row["stacked_speedup"] = row["separate_ms"] / row["stacked_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["mlp", "conv"], choices=["mlp", "conv"])
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 4, 10])
    parser.add_argument("--batch-size", type=int, default=100, help="points per run and step (default 100; the MLP "
                        "with neighbour pairs forms 200-row batches: --batch-size 200)")
    parser.add_argument("--repeats", type=int, default=30, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads-per-op", type=int, default=0, help="intra-op threads (0: TensorFlow's default)")
    parser.add_argument("--name", default="stacked_kernels")
    args = parser.parse_args()
    if args.threads_per_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads_per_op)
        tf.config.threading.set_inter_op_parallelism_threads(os.cpu_count() or 1)
    rows = []
    for backbone in args.backbones:
        for runs in args.runs:
            row = measure(backbone, runs, args.batch_size, args.repeats, args.rounds)
            rows.append(row)
            print(f"{backbone:4s} R={runs:2d}: separate {row['separate_ms']:7.2f} ms, stacked {row['stacked_ms']:7.2f} ms "
                  f"(×{row['stacked_speedup']:.2f}; losses agree to {row['loss_relative_gap']:.1e})", flush=True)
    path = write_results(args.name, {
        "command": "python benchmarks/stacked_kernels.py " + " ".join(sys.argv[1:]),
        "batch_size": args.batch_size, "threads_per_op": args.threads_per_op or "default", "rows": rows,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
