"""Interleaved A/B timing of the median inside the DDC loss: full sort vs exact bisection.

On a shared machine, timing two versions in separate runs mostly measures the load of the
moment. Here both versions are compiled in one process and timed alternately, repeat by
repeat, and the fastest repeat of each is kept — so both see the same load.

    python benchmarks/median_ab.py [--sizes 100 256 512 1024 2048] [--repeats 9]

Forward + backward of ``ddc_loss`` (hidden dim 100, k = 10), without and with XLA.
Writes ``benchmarks/results/median_ab.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from common import write_results
from ddc_tf.losses import ddc as L

SELECTION_MEDIAN = L.upper_triangle_median


def sort_median(d: tf.Tensor) -> tf.Tensor:
    """The first implementation: sort the whole masked m × m matrix."""
    m = tf.shape(d)[0]
    n_pairs = m * (m - 1) // 2
    ordered = tf.sort(tf.reshape(tf.where(L._strict_upper_mask(m), d, float("inf")), [-1]))
    median = 0.5 * (ordered[tf.maximum((n_pairs - 1) // 2, 0)] + ordered[n_pairs // 2])
    return tf.where(n_pairs > 0, median, 0.0)


def make_step(median_fn, xla: bool):
    @tf.function(jit_compile=xla)
    def step(h, z):
        L.upper_triangle_median = median_fn  # read by bandwidth_sq at trace time
        try:
            with tf.GradientTape() as tape:
                tape.watch([h, z])
                total = L.ddc_loss(h, tf.nn.softmax(z))["total"]
            return total, tape.gradient(total, [h, z])
        finally:
            L.upper_triangle_median = SELECTION_MEDIAN

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rows = []
    for xla in (False, True):
        for m in args.sizes:
            h, z = tf.random.normal([m, 100]), tf.random.normal([m, 10])
            steps = {"sort": make_step(sort_median, xla), "selection": make_step(SELECTION_MEDIAN, xla)}
            results = [float(step(h, z)[0]) for step in steps.values()]  # trace + compile
            assert abs(results[0] - results[1]) <= 1e-5 * abs(results[0]), results
            times: dict[str, list[float]] = {name: [] for name in steps}
            for _ in range(args.repeats):
                for name, step in steps.items():
                    start = time.perf_counter()
                    step(h, z)[0].numpy()
                    times[name].append(time.perf_counter() - start)
            row = {"m": m, "xla": xla, **{f"{k}_ms": round(min(v) * 1000, 3) for k, v in times.items()}}
            row["speedup"] = round(row["sort_ms"] / row["selection_ms"], 2)
            rows.append(row)
            print(f"xla={xla!s:<6}m={m:<6}sort {row['sort_ms']:9.2f} ms   selection {row['selection_ms']:9.2f} ms"
                  f"   ×{row['speedup']}", flush=True)
    path = write_results("median_ab", {"command": "python benchmarks/median_ab.py " + " ".join(sys.argv[1:]),
                                       "repeats": args.repeats, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
