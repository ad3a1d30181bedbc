"""How far OT clustering's Sinkhorn solver gets in a fixed number of iterations.

``OTClustering`` runs ``DEFAULT_ITERATIONS`` (50) log-domain Sinkhorn iterations per training
step at ``DEFAULT_EPSILON`` (0.01), warm-started from a running column potential. This
measures, on batches shaped like its training batches (m = 100 points of a normalised
k = 10-dimensional embedding — total variance 1 —, k centroids), with the library's own solver:

- ``column_error``: Σ_j |Σ_i P_ij − b_j| of the plan, uniform target shares b (0 = the sizes met);
- ``gradient_error``: the relative distance between the plan after the fixed iterations and the
  plan after 5 000 (the plan is the gradient of the entropic OT value with respect to the cost
  at Sinkhorn's fixed point, which ``stop_gradient_plan=True`` uses);

cold (g = 0) and warm-started from the converged potential of another random batch (whose
centroids are other random ones too: a pessimistic stand-in for the running potential, whose
centroids persist from step to step), mean and max over ``--batches`` random batches; each
at ε throughout and with ε-scaling (``epsilon_start``: ε falls from 1, the embedding's total
variance, to ε over the first 2/5 of the iterations). About a minute.

    python benchmarks/sinkhorn_convergence.py [--batches 20]

Writes ``benchmarks/results/sinkhorn_convergence.json``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from common import write_results
from ddc_tf.losses import sinkhorn

M, K, REFERENCE_ITERATIONS = 100, 10, 5000


def batch(rng: np.random.Generator) -> tuple[tf.Tensor, tf.Tensor]:
    """A normalised embedding (m, k) of total variance 1 and k centroids of about unit norm."""
    z = rng.normal(size=(M, K))
    z = (z - z.mean(0)) / z.std(0) / np.sqrt(K)
    return tf.constant(z, tf.float32), tf.constant(rng.normal(size=(K, K)) / np.sqrt(K), tf.float32)


@tf.function
def _solve(z, c, epsilon: float, iterations: int, g_init=None, epsilon_start=None) -> dict[str, tf.Tensor]:
    problem = sinkhorn.Problem(sinkhorn.Geometry.squared_euclidean(z, c, epsilon), "uniform")
    out = sinkhorn.sinkhorn(problem, iterations, g_init=g_init, epsilon_start=epsilon_start)
    return {"plan": out.plan, "g": out.g, "column_error": out.column_error}


def solve(z, c, epsilon: float, iterations: int, g_init=None, epsilon_start=None) -> dict[str, np.ndarray]:
    """The plan, the column potential and the column error (compiled once per setting)."""
    return {key: value.numpy() for key, value in _solve(z, c, epsilon, iterations, g_init, epsilon_start).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[sinkhorn.DEFAULT_EPSILON, 0.05])
    parser.add_argument("--iterations", type=int, nargs="+", default=[10, sinkhorn.DEFAULT_ITERATIONS, 100, 200, 1000])
    parser.add_argument("--epsilon-start", type=float, default=1.0, help="ε-scaling's starting ε (rows with and without)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batches = [batch(rng) for _ in range(args.batches + 1)]
    rows = []
    for epsilon in args.epsilons:
        references = [solve(z, c, epsilon, REFERENCE_ITERATIONS) for z, c in batches]
        for iterations, epsilon_start, start in itertools.product(args.iterations, (None, args.epsilon_start), ("cold", "warm")):
            errors, gradients = [], []
            for i in range(1, len(batches)):
                z, c = batches[i]
                g_init = references[i - 1]["g"] if start == "warm" else None  # another batch's potential
                out = solve(z, c, epsilon, iterations, g_init, epsilon_start)
                errors.append(float(out["column_error"]))
                exact = references[i]["plan"]
                gradients.append(float(np.linalg.norm(out["plan"] - exact) / np.linalg.norm(exact)))
            row = {"epsilon": epsilon, "iterations": iterations, "epsilon_start": epsilon_start, "start": start,
                   "column_error_mean": round(float(np.mean(errors)), 4), "column_error_max": round(max(errors), 4),
                   "gradient_error_mean": round(float(np.mean(gradients)), 4)}
            rows.append(row)
            print(row, flush=True)
    path = write_results("sinkhorn_convergence", {
        "command": "python benchmarks/sinkhorn_convergence.py " + " ".join(sys.argv[1:]),
        "batch": {"m": M, "k": K, "reference_iterations": REFERENCE_ITERATIONS}, "rows": rows,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
