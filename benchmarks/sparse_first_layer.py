"""Interleaved A/B of the MLP's first layer on sparse TF-IDF rows: dense GEMM against two
sparse forms of the same product.

The MLP's first layer (``Dense(200)`` on 2 000 TF-IDF terms) is most of a text run's
arithmetic, and 20news rows are about 2.5 % non-zero (50 terms of 2 000). A sparse product
does 40× fewer multiply-adds; whether it is faster on a CPU is what this measures. Forward
and the kernel's gradient (what a training step needs of the first layer; its input needs
none), on batches of ``--rows`` rows drawn from the data set (the CLI's 100 points and their
100 neighbours), each form compiled in one process and timed alternately, repeat by repeat,
the fastest repeat of each kept:

- ``dense``: ``x @ W`` on the densified batch (what ``ddc_tf`` does);
- ``sparse_matmul``: ``tf.sparse.from_dense`` then ``tf.sparse.sparse_dense_matmul``;
- ``gather``: the non-zeros' rows of ``W``, scaled and summed per row
  (``tf.math.unsorted_segment_sum``, the embedding-lookup form).

    python benchmarks/sparse_first_layer.py [--data 20news] [--rows 200] [--units 200] [--repeats 7]

Writes ``benchmarks/results/sparse_first_layer.json``.
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
from ddc_tf.data import load_arrays


def forms(kernel: tf.Variable) -> dict:
    def dense(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.relu(tf.matmul(x, kernel)))
        return tape.gradient(loss, kernel)

    def sparse_matmul(x):
        sparse = tf.sparse.from_dense(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.relu(tf.sparse.sparse_dense_matmul(sparse, kernel)))
        return tape.gradient(loss, kernel)

    def gather(x):
        where = tf.where(x != 0)
        values = tf.gather_nd(x, where)
        with tf.GradientTape() as tape:
            rows = tf.gather(kernel, where[:, 1]) * values[:, None]
            loss = tf.reduce_sum(tf.nn.relu(tf.math.unsorted_segment_sum(rows, where[:, 0], tf.shape(x)[0])))
        return tf.convert_to_tensor(tape.gradient(loss, kernel))

    return {name: tf.function(f) for name, f in (("dense", dense), ("sparse_matmul", sparse_matmul),
                                                   ("gather", gather))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="20news")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--name", default="sparse_first_layer")
    args = parser.parse_args(argv)

    data = load_arrays(args.data)
    x = data.x
    if not hasattr(x, "toarray"):
        raise SystemExit(f"--data {args.data}: not a sparse data set")
    density = x.nnz / (x.shape[0] * x.shape[1])
    rng = np.random.default_rng(0)
    batches = [tf.constant(x[rng.choice(x.shape[0], args.rows, replace=False)].toarray().astype(np.float32))
               for _ in range(8)]
    kernel = tf.Variable(tf.random.normal((x.shape[1], args.units), seed=0))
    steps = forms(kernel)
    reference = steps["dense"](batches[0])
    agreement = {name: float(tf.reduce_max(tf.abs(f(batches[0]) - reference))) for name, f in steps.items()}
    best = {name: float("inf") for name in steps}
    for _ in range(args.repeats):
        for name, f in steps.items():
            f(batches[0])
            start = time.perf_counter()
            for i in range(args.calls):
                f(batches[i % len(batches)])
            best[name] = min(best[name], (time.perf_counter() - start) / args.calls * 1e3)
    for name in steps:
        print(f"{name:<14} {best[name]:.3f} ms  (max gradient difference from dense {agreement[name]:.1e})")
    path = write_results(args.name, {
        "command": "python benchmarks/sparse_first_layer.py " + " ".join(sys.argv[1:]),
        "data": args.data, "shape": list(x.shape), "density": density, "nonzeros_per_row": x.nnz / x.shape[0],
        "rows": args.rows, "units": args.units, "ms_per_call_fastest_repeat": best,
        "max_gradient_difference_from_dense": agreement})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
